"""A byte scanner for the common shapes of telemetry lines, straight into batch columns.

`scan_lines` walks a block of JSON Lines (whole lines), strips each as `bytes.strip` does,
skips blank and `#` lines, and for every other line either fills a row of columns or marks
it for the strict decoder (`kefu_floor.schema.decode_event`). It only takes a line it is
sure of: one flat object of known keys, each at most once, with string values of printable
ASCII without escapes, integers without sign, fraction or exponent, and plain decimals that
convert exactly (at most 15 digits, no exponent), every value inside the schema's ranges,
an event type the caller accepts and its required fields present. Anything else (escapes,
unicode, unknown keys, nulls, floats where integers go, duplicates, broken JSON, values
out of range) goes to the strict decoder, which gives the same event or the same
rejection it always gave: the scanner never rejects a line.

`scan_payloads` does the same for live MQTT payloads (many at once, end to end in one
buffer): each payload, one object or a JSON array of objects, is taken whole, every element
by the same rule (`_parse_end`, the line parser's own body), or left whole to the strict
decoder (`kefu_floor.schema.decode_payload`).

Agent, queue, source, reason-code and site ids are interned into one table kept across
blocks (ids local to the scan, in order of first sight; the caller maps them to the
engine's interners); call ids are hashed as `kernels.floor.fnv1a_rows` hashes them.
"""
import numpy as np
from kernels.compiled import njit

# fields, in the order of FIELD_NAMES (bits of a line's `seen` mask)
F_TYPE, F_TS, F_AGENT, F_SITE, F_SRC, F_SEQ, F_SEAT, F_REASON, F_CALL, F_QUEUE, F_WAIT, \
    F_RESULT, F_AMOUNT, F_EPOCH, F_ITEM, F_SCORE, F_MONTH = range(17)
FIELD_NAMES = ("type", "ts", "agent", "site", "src", "seq", "seat", "reason", "call", "queue",
               "wait_ms", "result", "amount", "epoch", "item", "score", "month")

# symbol categories of the interning table
CAT_AGENT, CAT_QUEUE, CAT_SRC, CAT_REASON, CAT_SITE = range(5)

# columns of a row (int64 matrix RI; the float column is RN)
R_LINE, R_LO, R_HI, R_OK, R_ETYPE, R_TS, R_AGENT, R_QUEUE, R_SRC, R_REASON, R_SITE, R_CALL, \
    R_SEQ, R_EPOCH, R_AUX, R_CODE = range(16)
R_K = 16

# limits (float64 vector LIM), filled by the caller from the schema
L_MIN_TS, L_MAX_TS, L_MAX_ID, L_MAX_COUNT, L_MAX_WAIT, L_AMOUNT, L_POINTS_MAX, \
    L_MONTH_LO, L_MONTH_HI = range(9)
L_K = 9

# what a call returns
DONE = 0
NEED_ROWS = 1
NEED_SYMBOLS = 2

# a type's names (caller's tables): TYPES bytes, TOFF[t]..TOFF[t+1], TIDX its name_index;
# TSHAPE[t]: 0 = not scanned, else how its columns are filled; TREQ[t]: required-field bits
# enum values: ENUMS bytes, EOFF offsets, grouped per field by EGRP[field] = (lo, hi)

# The per-object helpers are compiled without numba's reference counting (`_nrt=False`: they
# allocate nothing): with it, every call increfs and decrefs each array argument, and the
# ~20 arrays `_parse_end` takes cost more than parsing the object (measured 4x the time per
# event).
_KEYS = np.frombuffer("".join(FIELD_NAMES).encode(), np.uint8).copy()
_KOFF = np.cumsum(np.array([0] + [len(f) for f in FIELD_NAMES], np.int64))
_N_FIELDS = len(FIELD_NAMES)
_WS = np.zeros(256, np.bool_)  # what bytes.strip strips
for _c in b" \t\n\r\x0b\x0c":
    _WS[_c] = True
_PLAIN = np.zeros(256, np.bool_)  # string bytes the scanner takes: printable ASCII, no " or \\
for _c in range(32, 127):
    _PLAIN[_c] = _c not in (34, 92)


def name_index(names) -> np.ndarray:
    """A lookup of a set of names by (length, first byte, last byte) -> its index (-1:
    none); every hit is still compared in full (`_lookup`)."""
    idx = np.full(1024, -1, np.int64)
    for k, nm in enumerate(names):
        nb = nm.encode()
        h = _slot(len(nb), nb[0], nb[-1])
        if idx[h] != -1:
            raise ValueError(f"names {names[idx[h]]!r} and {nm!r} share a lookup slot")
        idx[h] = k
    return idx


def _slot(n, first, last):
    return (n * 131 + first * 31 + last * 7) & 1023


_KIDX = name_index(FIELD_NAMES)
_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)
_POW10 = np.array([10.0 ** k for k in range(23)])


@njit(cache=True, _nrt=False)
def _skip_ws(b, i, hi):
    # JSON's own whitespace inside a line ('\n' ends it)
    while i < hi and (b[i] == 32 or b[i] == 9 or b[i] == 13):
        i += 1
    return i


@njit(cache=True, _nrt=False)
def _match(b, lo, hi, names, offs, first, last):
    """Index k in [first, last) whose name names[offs[k]:offs[k+1]] equals b[lo:hi], or -1."""
    n = hi - lo
    for k in range(first, last):
        a = offs[k]
        if offs[k + 1] - a != n:
            continue
        same = True
        for j in range(n):
            if names[a + j] != b[lo + j]:
                same = False
                break
        if same:
            return k
    return -1


@njit(cache=True, _nrt=False)
def _lookup(b, lo, hi, names, offs, idx):
    """Index of the name equal to b[lo:hi] (tables of `name_index`), or -1."""
    n = hi - lo
    if n == 0:
        return -1
    k = idx[(n * 131 + b[lo] * 31 + b[hi - 1] * 7) & 1023]
    if k < 0:
        return -1
    a = offs[k]
    if offs[k + 1] - a != n:
        return -1
    for j in range(n):
        if names[a + j] != b[lo + j]:
            return -1
    return k


@njit(cache=True, _nrt=False)
def _string_end(b, i, hi):
    """b[i] follows an opening quote: index of the closing quote of a plain string (printable
    ASCII, no escape), or -1 when the string is anything else."""
    while i < hi and _PLAIN[b[i]]:
        i += 1
    if i < hi and b[i] == 34:
        return i
    return -1


@njit(cache=True, _nrt=False)
def _uint_end(b, i, hi):
    """End of an unsigned JSON integer at b[i] (no fraction, exponent or leading zero,
    at most 16 digits), or -1."""
    if i >= hi or b[i] < 48 or b[i] > 57:
        return -1
    j = i + 1
    if b[i] != 48:
        while j < hi and 48 <= b[j] <= 57:
            j += 1
    if j - i > 16:
        return -1
    if j < hi and (48 <= b[j] <= 57 or b[j] == 46 or b[j] == 101 or b[j] == 69):
        return -1
    return j


@njit(cache=True, _nrt=False)
def _uint_value(b, i, j):
    v = np.int64(0)
    for k in range(i, j):
        v = v * 10 + (b[k] - 48)
    return v


@njit(cache=True, _nrt=False)
def _decimal(b, i, hi, out):
    """A plain decimal at b[i] (optional '-', digits, optional fraction; no exponent) that
    converts exactly: at most 15 significant digits, so digits / 10**k is the correctly
    rounded double. out[0] = its value; returns its end, or -1."""
    neg = False
    if i < hi and b[i] == 45:
        neg = True
        i += 1
    if i >= hi or b[i] < 48 or b[i] > 57:
        return -1
    m = np.int64(0)
    nd = 0
    j = i
    if b[j] == 48:
        j += 1
    else:
        while j < hi and 48 <= b[j] <= 57:
            m = m * 10 + (b[j] - 48)
            nd += 1
            j += 1
            if nd > 15:
                return -1
    frac = 0
    if j < hi and b[j] == 46:
        j += 1
        if j >= hi or b[j] < 48 or b[j] > 57:
            return -1
        while j < hi and 48 <= b[j] <= 57:
            m = m * 10 + (b[j] - 48)
            if m != 0:
                nd += 1
            frac += 1
            j += 1
            if nd > 15 or frac > 22:
                return -1
    if j < hi and (48 <= b[j] <= 57 or b[j] == 46 or b[j] == 101 or b[j] == 69):
        return -1
    v = float(m) / _POW10[frac] if frac else float(m)
    out[0] = -v if neg else v
    return j


@njit(cache=True, _nrt=False)
def _fnv(b, lo, hi, seed):
    h = seed
    for k in range(lo, hi):
        h = (h ^ np.uint64(b[k])) * _FNV_PRIME
    return h


@njit(cache=True, _nrt=False)
def call_hash(b, lo, hi):
    """The call column's hash of b[lo:hi] (as kernels.floor.fnv1a_rows: 0 for empty, 0 and
    1 reserved)."""
    if hi <= lo:
        return np.int64(0)
    v = np.int64(_fnv(b, lo, hi, _FNV_OFFSET))
    if v == 0 or v == 1:
        v = v + 2
    return v


@njit(cache=True, _nrt=False)
def _intern(b, lo, hi, cat, tab, SH, SC, SO, SL, pool, S):
    """Local id of (cat, b[lo:hi]) in the table, added if new (room is checked by the
    caller before each line)."""
    h = _fnv(b, lo, hi, (_FNV_OFFSET ^ np.uint64(cat)) * _FNV_PRIME)
    mask = tab.shape[0] - 1
    slot = np.int64(h & np.uint64(mask))
    n = hi - lo
    while True:
        e = tab[slot]
        if e == 0:
            break
        k = e - 1
        if SH[k] == np.int64(h) and SC[k] == cat and SL[k] == n:
            a = SO[k]
            same = True
            for j in range(n):
                if pool[a + j] != b[lo + j]:
                    same = False
                    break
            if same:
                return k
        slot = (slot + 1) & mask
    k = S[0]
    a = S[1]
    for j in range(n):
        pool[a + j] = b[lo + j]
    SH[k] = np.int64(h)
    SC[k] = cat
    SO[k] = a
    SL[k] = n
    tab[slot] = k + 1
    S[0] = k + 1
    S[1] = a + n
    return k


@njit(cache=True)
def rehash(tab, SH, n):
    """Fill an empty, larger table with the first n symbols (after the caller grew it)."""
    mask = tab.shape[0] - 1
    for k in range(n):
        slot = np.int64(np.uint64(SH[k]) & np.uint64(mask))
        while tab[slot] != 0:
            slot = (slot + 1) & mask
        tab[slot] = k + 1


@njit(cache=True, _nrt=False)
def _parse(b, lo, hi, RI, RN, r, TYPES, TOFF, TIDX, TSHAPE, TREQ, ENUMS, EOFF, EGRP, LIM,
           tab, SH, SC, SO, SL, pool, S, num):
    """Fill row r from the line b[lo:hi] and return True, or return False (strict decoder)."""
    return _parse_end(b, lo, hi, True, RI, RN, r, TYPES, TOFF, TIDX, TSHAPE, TREQ, ENUMS, EOFF,
                      EGRP, LIM, tab, SH, SC, SO, SL, pool, S, num) == hi


@njit(cache=True, _nrt=False)
def _parse_end(b, lo, hi, whole, RI, RN, r, TYPES, TOFF, TIDX, TSHAPE, TREQ, ENUMS, EOFF, EGRP,
               LIM, tab, SH, SC, SO, SL, pool, S, num):
    """Fill row r from the object starting at b[lo] (lo < hi) and return the index just past
    its closing brace, or return -1 (strict decoder). `whole`: the object must end at hi (a
    line), checked before anything is interned; else it may be followed by more (an element
    of a payload's array: the caller reads what follows)."""
    if b[lo] != 123:
        return -1
    i = _skip_ws(b, lo + 1, hi)
    seen = 0
    et = -1
    ts = np.int64(0)
    seq = np.int64(-1)
    epoch = np.int64(-1)
    wait = np.int64(-1)
    month = np.int64(-1)
    amount = 0.0
    score = 0.0
    result = -1
    item = -1
    # spans of the string values that are interned or hashed
    a0 = a1 = q0 = q1 = s0 = s1 = c0 = c1 = rs0 = rs1 = st0 = st1 = np.int64(0)
    # integer bounds compared as integers (2**53 + 1 is 2**53 as a double)
    max_id = np.int64(LIM[L_MAX_ID])
    min_ts = np.int64(LIM[L_MIN_TS])
    max_ts = np.int64(LIM[L_MAX_TS])
    max_wait = np.int64(LIM[L_MAX_WAIT])
    max_count = np.int64(LIM[L_MAX_COUNT])
    while True:
        if i >= hi or b[i] != 34:
            return -1
        k0 = i + 1
        k1 = _string_end(b, k0, hi)
        if k1 < 0:
            return -1
        f = _lookup(b, k0, k1, _KEYS, _KOFF, _KIDX)
        if f < 0:
            return -1  # a key the scanner does not know: the strict decoder decides
        bit = np.int64(1) << f
        if seen & bit:
            return -1  # a key twice
        seen |= bit
        i = _skip_ws(b, k1 + 1, hi)
        if i >= hi or b[i] != 58:
            return -1
        i = _skip_ws(b, i + 1, hi)
        if i >= hi:
            return -1
        if f == F_TS or f == F_SEQ or f == F_EPOCH or f == F_WAIT:
            j = _uint_end(b, i, hi)
            if j < 0:
                return -1
            v = _uint_value(b, i, j)
            if f == F_TS:
                if v < min_ts or v > max_ts:
                    return -1
                ts = v
            elif f == F_WAIT:
                if v > max_wait:
                    return -1
                wait = v
            else:
                if v > max_count:
                    return -1
                if f == F_SEQ:
                    seq = v
                else:
                    epoch = v
            i = j
        elif f == F_AMOUNT or f == F_SCORE:
            j = _decimal(b, i, hi, num)
            if j < 0:
                return -1
            v = num[0]
            if v == 0.0 and b[i] == 45:
                return -1  # -0: an integer zero to one decoder, -0.0 to another
            if f == F_AMOUNT:
                if not (-LIM[L_AMOUNT] <= v <= LIM[L_AMOUNT]):
                    return -1
                amount = v
            else:
                if not (0.0 <= v <= LIM[L_POINTS_MAX]):
                    return -1
                score = v
            i = j
        else:  # string values
            if b[i] != 34:
                return -1
            v0 = i + 1
            v1 = _string_end(b, v0, hi)
            if v1 < 0:
                return -1
            n = v1 - v0
            # ids: 1..MAX_ID characters (ASCII here: characters = bytes); the site and seat
            # may be empty for the schema, but an empty site is left to the strict path
            if n > max_id or n == 0 and f != F_SEAT:
                return -1
            if f == F_TYPE:
                et = _lookup(b, v0, v1, TYPES, TOFF, TIDX)
                if et < 0 or TSHAPE[et] == 0:
                    return -1
            elif f == F_AGENT:
                a0, a1 = v0, v1
            elif f == F_QUEUE:
                q0, q1 = v0, v1
            elif f == F_SRC:
                s0, s1 = v0, v1
            elif f == F_CALL:
                c0, c1 = v0, v1
            elif f == F_REASON:
                rs0, rs1 = v0, v1
            elif f == F_SITE:
                st0, st1 = v0, v1
            elif f == F_RESULT or f == F_ITEM:
                k = _match(b, v0, v1, ENUMS, EOFF, EGRP[f, 0], EGRP[f, 1])
                if k < 0:
                    return -1
                if f == F_RESULT:
                    result = k - EGRP[f, 0]
                else:
                    item = k - EGRP[f, 0]
            elif f == F_MONTH:
                # 20YY-MM with MM 01..12
                if n != 7 or b[v0] != 50 or b[v0 + 1] != 48 or b[v0 + 4] != 45:
                    return -1
                for j in (2, 3, 5, 6):
                    if b[v0 + j] < 48 or b[v0 + j] > 57:
                        return -1
                y = 2000 + (b[v0 + 2] - 48) * 10 + (b[v0 + 3] - 48)
                mo = (b[v0 + 5] - 48) * 10 + (b[v0 + 6] - 48)
                if mo < 1 or mo > 12:
                    return -1
                month = np.int64(y) * 12 + mo - 1
            # F_SEAT: validated above, not a column
            i = v1 + 1
        i = _skip_ws(b, i, hi)
        if i >= hi:
            return -1
        if b[i] == 44:
            i = _skip_ws(b, i + 1, hi)
            continue
        if b[i] == 125:
            i += 1
            break
        return -1
    if (whole and i != hi) or et < 0 or not (seen & (np.int64(1) << F_TS)):
        return -1
    if (seen & TREQ[et]) != TREQ[et]:
        return -1  # a required field is missing: the strict path names it
    has_src = (seen >> F_SRC) & 1
    if has_src != ((seen >> F_SEQ) & 1):
        return -1  # src without seq or seq without src
    etype_busy = TSHAPE[et] == 2
    if (seen >> F_REASON) & 1 and not etype_busy:
        return -1  # a free-text reason (floor, adjust, ...) is the strict path's
    # sure of the line: intern and fill the row
    RI[r, R_OK] = 1
    RI[r, R_ETYPE] = et
    RI[r, R_TS] = ts
    RI[r, R_AGENT] = (_intern(b, a0, a1, CAT_AGENT, tab, SH, SC, SO, SL, pool, S)
                      if (seen >> F_AGENT) & 1 else -1)
    RI[r, R_QUEUE] = (_intern(b, q0, q1, CAT_QUEUE, tab, SH, SC, SO, SL, pool, S)
                      if (seen >> F_QUEUE) & 1 else -1)
    RI[r, R_SRC] = (_intern(b, s0, s1, CAT_SRC, tab, SH, SC, SO, SL, pool, S)
                    if has_src else -1)
    RI[r, R_REASON] = (_intern(b, rs0, rs1, CAT_REASON, tab, SH, SC, SO, SL, pool, S)
                       if (seen >> F_REASON) & 1 else -1)
    RI[r, R_SITE] = (_intern(b, st0, st1, CAT_SITE, tab, SH, SC, SO, SL, pool, S)
                     if (seen >> F_SITE) & 1 else -1)
    RI[r, R_CALL] = call_hash(b, c0, c1) if (seen >> F_CALL) & 1 else 0
    RI[r, R_SEQ] = seq
    RI[r, R_EPOCH] = epoch
    # the type-dependent columns, as kefu_floor.batch fills them
    shape = TSHAPE[et]
    aux = np.int64(-1)
    code = np.int64(0)
    val = 0.0
    if shape == 3:  # answer, abandon: the wait
        aux = wait
    elif shape == 4:  # survey
        code = result
    elif shape == 5:  # sale
        val = amount
    elif shape == 6:  # qa
        code = item
        val = score
        aux = month
    RI[r, R_AUX] = aux
    RI[r, R_CODE] = code  # busy: the caller maps R_REASON
    RN[r] = val
    return i


@njit(cache=True, _nrt=False)
def _room(RI, r, tab, SH, pool, S):
    """DONE when row r and an object's five new symbols of at most MAX_ID bytes fit, else
    what to grow first (NEED_ROWS, NEED_SYMBOLS)."""
    if r >= RI.shape[0]:
        return NEED_ROWS
    if 2 * (S[0] + 5) > tab.shape[0] or S[0] + 5 > SH.shape[0] \
            or S[1] + 5 * 64 > pool.shape[0]:
        return NEED_SYMBOLS
    return DONE


@njit(cache=True, nogil=True)  # a replay reads ahead in a thread (kefu_floor.linescan)
def scan_lines(b, pos, line, bom, RI, RN, r, TYPES, TOFF, TIDX, TSHAPE, TREQ, ENUMS, EOFF, EGRP,
               LIM, tab, SH, SC, SO, SL, pool, S):
    """Scan the lines of b from byte pos (line number `line`) into rows r.. of RI/RN.

    Returns (pos, line, r, status): DONE at the end of b, or NEED_ROWS / NEED_SYMBOLS with
    nothing of the line at pos consumed (grow, then call again from there). `bom`: strip a
    UTF-8 byte-order mark from line 1. Rows: R_OK 1 = filled, 0 = for the strict decoder
    (the line is b[R_LO:R_HI]).
    """
    n = b.shape[0]
    num = np.zeros(1)
    while pos < n:
        status = _room(RI, r, tab, SH, pool, S)
        if status != DONE:
            return pos, line, r, status
        e = pos
        while e < n and b[e] != 10:
            e += 1
        lo = pos
        hi = e
        if line == 1 and bom and hi - lo >= 3 and b[lo] == 0xEF and b[lo + 1] == 0xBB \
                and b[lo + 2] == 0xBF:
            lo += 3
        while lo < hi and _WS[b[lo]]:
            lo += 1
        while hi > lo and _WS[b[hi - 1]]:
            hi -= 1
        if lo < hi and b[lo] != 35:
            RI[r, R_LINE] = line
            RI[r, R_LO] = lo
            RI[r, R_HI] = hi
            RI[r, R_OK] = 0  # _parse sets it once the row is filled
            for c in range(R_ETYPE, R_K):
                RI[r, c] = -1
            _parse(b, lo, hi, RI, RN, r, TYPES, TOFF, TIDX, TSHAPE, TREQ, ENUMS, EOFF, EGRP, LIM,
                   tab, SH, SC, SO, SL, pool, S, num)
            r += 1
        line += 1
        pos = e + 1
    return pos, line, r, DONE


@njit(cache=True, _nrt=False)
def _skip_json_ws(b, i, hi):
    # JSON's whitespace around and between a payload's elements ('\n' included)
    while i < hi and (b[i] == 32 or b[i] == 9 or b[i] == 10 or b[i] == 13):
        i += 1
    return i


@njit(cache=True)
def scan_payloads(b, offs, p, RI, RN, r, PS, PR, TYPES, TOFF, TIDX, TSHAPE, TREQ, ENUMS, EOFF,
                  EGRP, LIM, tab, SH, SC, SO, SL, pool, S):
    """Scan MQTT payloads p.. of b (payload k is b[offs[k]:offs[k+1]]: one event object, or
    a JSON array of them, DESIGN.md §3.1) into rows r.. of RI/RN.

    All or nothing per payload: PS[k] = 1 when the scanner is sure of every element (its
    rows are PR[k]..PR[k+1], R_LINE = k, R_LO/R_HI the element's bytes; an empty array
    has none), else PS[k] = 0, no rows, and the whole payload is the strict decoder's, so
    its rejections (reasons, element indices, the dead letter) are the ones it always had.
    Returns (p, r, status): DONE with PR[len] set, or NEED_ROWS / NEED_SYMBOLS with payload
    p not consumed (its rows dropped: grow, then call again from there; a symbol it interned
    is found again)."""
    num = np.zeros(1)
    n_pay = offs.shape[0] - 1
    while p < n_pay:
        lo = offs[p]
        hi = offs[p + 1]
        r0 = r
        PR[p] = r0
        status = DONE
        ok = False
        i = _skip_json_ws(b, lo, hi)
        many = i < hi and b[i] == 91  # an array of objects; else one object
        if many:
            i = _skip_json_ws(b, i + 1, hi)
        if many and i < hi and b[i] == 93:  # []: no event, and nothing wrong
            i += 1
            ok = True
        elif many or (i < hi and b[i] == 123):
            while True:
                status = _room(RI, r, tab, SH, pool, S)
                if status != DONE or i >= hi:
                    break
                e = _parse_end(b, i, hi, False, RI, RN, r, TYPES, TOFF, TIDX, TSHAPE, TREQ,
                               ENUMS, EOFF, EGRP, LIM, tab, SH, SC, SO, SL, pool, S, num)
                if e < 0:
                    break
                RI[r, R_LINE] = p
                RI[r, R_LO] = i
                RI[r, R_HI] = e
                r += 1
                i = e
                if not many:
                    ok = True
                    break
                i = _skip_json_ws(b, i, hi)
                if i < hi and b[i] == 44:
                    i = _skip_json_ws(b, i + 1, hi)
                    continue
                if i < hi and b[i] == 93:
                    i += 1
                    ok = True
                break
        if status != DONE:
            return p, r0, status
        if ok and _skip_json_ws(b, i, hi) == hi:
            PS[p] = 1
        else:  # anything else, or any element not sure: all of it to the strict decoder
            PS[p] = 0
            r = r0
        p += 1
    PR[n_pay] = r
    return p, r, DONE


# -- rows -> an engine's columns (the replay's main thread, once per block and chunk) -----

@njit(cache=True, nogil=True)
def renumber(RI, cols, m, lines_before):
    """A block's rows from its scanner's symbol ids to the file's (`m[scanner id]`) in the
    columns `cols`, and its line numbers from its segment's to the file's."""
    for r in range(RI.shape[0]):
        RI[r, R_LINE] += lines_before
        for k in range(cols.shape[0]):
            c = cols[k]
            v = RI[r, c]
            if v >= 0:
                RI[r, c] = m[v]


@njit(cache=True, nogil=True)
def batch_columns(RI, RN, g, etype, ts, agent, call, queue, code, aux, num, src, seq, epoch):
    """The rows as an engine batch's columns: symbols through `g` (file symbol -> engine
    id, -1 for none), a busy reason's symbol as its code, a seq only with a source."""
    for r in range(RI.shape[0]):
        etype[r] = RI[r, R_ETYPE]
        ts[r] = RI[r, R_TS]
        a = RI[r, R_AGENT]
        agent[r] = g[a] if a >= 0 else -1
        call[r] = RI[r, R_CALL]
        q = RI[r, R_QUEUE]
        queue[r] = g[q] if q >= 0 else -1
        why = RI[r, R_REASON]
        code[r] = g[why] if why >= 0 else RI[r, R_CODE]
        aux[r] = RI[r, R_AUX]
        num[r] = RN[r]
        s = RI[r, R_SRC]
        s = g[s] if s >= 0 else -1
        src[r] = s
        seq[r] = RI[r, R_SEQ] if s >= 0 else -1
        epoch[r] = RI[r, R_EPOCH]
