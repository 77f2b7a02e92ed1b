"""Many MQTT payloads at once through the compiled scanner (`kernels.jsonscan.scan_payloads`).

`PayloadScanner.scan(payloads)` concatenates the payloads into one buffer and scans them in
one call: each payload (one event object, or a JSON array of them: DESIGN.md §3.1) either
becomes rows of columns tagged with its index, or, when the scanner is not completely sure
of it (any element), is marked whole for the strict decoder (`schema.decode_payload`), so
its rejections are exactly the strict decoder's. The scanner's tables and symbol table are
replay's (`kefu_floor.linescan`): one definition of what it takes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kefu_floor.linescan import Symbols, _tables
from kernels import jsonscan as J


@dataclass
class Scanned:
    """One call's result: rows of the sure payloads, and which payloads those are."""

    buf: np.ndarray  # uint8: every payload, end to end (RI's R_LO/R_HI index it)
    RI: np.ndarray  # int64 (rows, jsonscan.R_K); R_LINE = the payload's index
    RN: np.ndarray  # float64 (rows,)
    sure: np.ndarray  # bool per payload: its rows are here (else: the strict decoder's)
    first: np.ndarray  # int64 per payload + 1: its rows are first[k]..first[k + 1]
    offs: np.ndarray  # int64 per payload + 1: payload k is buf[offs[k]:offs[k + 1]]

    def element(self, row: int) -> bytes:
        """The bytes of one row's event object (to decode it strictly: rare paths)."""
        return self.buf[self.RI[row, J.R_LO]: self.RI[row, J.R_HI]].tobytes()

    def payload(self, k: int) -> bytes:
        return self.buf[self.offs[k]: self.offs[k + 1]].tobytes()


class PayloadScanner:
    """Payloads -> Scanned, one symbol table across calls (`reset` when it holds too many:
    a flood of ids the engine refuses must not grow it for ever)."""

    def __init__(self):
        self.tables = _tables(True)
        self.sym = Symbols()

    def reset(self) -> None:
        self.sym = Symbols()

    def scan(self, payloads: list[bytes]) -> Scanned:
        n = len(payloads)
        offs = np.zeros(n + 1, np.int64)
        np.cumsum(np.fromiter(map(len, payloads), np.int64, n), out=offs[1:])
        buf = np.frombuffer(b"".join(payloads), np.uint8)
        # rows: a scannable event object has at least ~40 bytes; grown if ever short
        rows = int(offs[-1]) // 40 + n + 16
        RI = np.empty((rows, J.R_K), np.int64)
        RN = np.empty(rows, np.float64)
        sure = np.zeros(n, np.int64)
        first = np.zeros(n + 1, np.int64)
        sym = self.sym
        p = r = 0
        while True:
            p, r, st = J.scan_payloads(buf, offs, p, RI, RN, r, sure, first, *self.tables,
                                       sym.tab, sym.SH, sym.SC, sym.SO, sym.SL, sym.pool, sym.S)
            if st == J.DONE:
                break
            if st == J.NEED_SYMBOLS:
                sym.grow()
            else:
                RI = np.concatenate([RI, np.empty_like(RI)])
                RN = np.concatenate([RN, np.empty_like(RN)])
        sym.take_new()
        return Scanned(buf, RI[:r], RN[:r], sure.astype(np.bool_), first, offs)
