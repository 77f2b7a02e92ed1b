"""A site's engine rebuilt from the live store, read-only (`close --store URL --site S`).

It rebuilds what `serve` itself rebuilds on a restart (the checkpoint, then the journal tail
applied through the same `Ingest`), but never writes: no lease, no ledger sync, no
checkpoint, no trim, so it can run while `serve --store` is working on the same store.

A running service checkpoints and trims behind our back. Trimming only ever moves forward
and keeps the entry at the checkpoint's position (XTRIM MINID), so after each journal read
"the oldest entry is at or before where we read from" proves nothing we needed was trimmed
before we read it; when that fails (a newer checkpoint trimmed our tail away) we start over
from the newer checkpoint.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from kefu_floor.engine import Engine
from kefu_floor.errors import ConfigError
from kefu_floor.store import StoreDown, key, open_store, redact, sid, state
from kefu_floor.store.durable import apply_journal, journal_entry

READ_CHUNK = 5_000
TRIES = 5  # rebuilds started over because the service trimmed the tail meanwhile


@dataclass
class Rebuilt:
    engine: Engine
    checkpoint: str | None  # journal position the checkpoint covered (None: no checkpoint)
    applied: int  # journal messages applied after it
    bad_entries: int


class _Moved(Exception):
    """The service trimmed the journal past what we had read: start over."""


def archive_fix(site: str, month: str) -> str:
    return (f"close it from the service's --archive day files instead: zcat "
            f"ARCHIVE/{site}/{month}-*.jsonl.gz > {month}.jsonl, then kefu-floor close "
            f"{month}.jsonl with the same --roster, --schedule and --policy")


def rebuild(url: str, site: str, new_engine: Callable[[], Engine], month: str) -> Rebuilt:
    """The site's engine as the store holds it now; ConfigError (one line: the problem and
    the fix) when the store cannot be read or cannot give the state."""
    if url == "memory":
        raise ConfigError("--store memory: the in-process store lives only inside `serve`; "
                          "give the redis://… URL the service was started with")
    st = open_store(url)
    shown = redact(url)
    try:
        return asyncio.run(_rebuild(st, shown, site, new_engine, month))
    except StoreDown as e:
        raise ConfigError(f"--store {shown}: cannot read it ({e}); is Redis running at "
                          "that address?") from None


async def _rebuild(st, shown, site, new_engine, month) -> Rebuilt:
    try:
        for _ in range(TRIES):
            try:
                return await _once(st, shown, site, new_engine(), month)
            except _Moved:
                continue
        raise ConfigError(f"--store {shown} --site {site}: the service trimmed the journal "
                          f"{TRIES} times while it was being read; try again")
    finally:
        await st.close()


async def _once(st, shown, site, eng: Engine, month: str) -> Rebuilt:
    from kefu_floor.live.ingest import Ingest

    ck = key(site, "checkpoint")
    blob = await st.checkpoint_get(site)
    trimmed = await st.meta_get(site, "trimmed")
    after = None
    if blob is not None:
        try:
            header, _ = state.read_header(blob)
            if header.get("setup") != state.setup_fingerprint(eng):
                raise ConfigError(
                    f"--store {shown} --site {site}: the service's checkpoint {ck} was taken "
                    "with another policy, roster, schedule or site than given; give the "
                    "--policy, --roster and --schedule `serve` runs with")
            after = state.restore(eng, blob).get("journal")
        except state.CheckpointError as e:
            if trimmed:
                raise ConfigError(
                    f"--store {shown} --site {site}: checkpoint {ck} cannot be used ({e}) and "
                    "the journal was trimmed behind it, so the state cannot be rebuilt; "
                    + archive_fix(site, month)) from None
            after = None  # the whole journal is there: rebuild from it, as serve does
    elif trimmed:
        raise ConfigError(
            f"--store {shown} --site {site}: checkpoint {ck} is missing but the journal was "
            "trimmed behind an earlier one, so the state cannot be rebuilt; "
            + archive_fix(site, month))
    checkpoint = after
    lim = eng.policy.limits
    # the live path's own decoding and checks (serve's default --max-payload)
    ingest = Ingest({site: eng}, wall_ahead_ms=round(lim.wall_ahead_s * 1000))
    applied = bad = 0

    def skip(rid, err) -> None:
        nonlocal bad
        bad += 1  # serve skips it too (and logs it)

    while True:
        rows = await st.journal_read(site, after, READ_CHUNK)
        await _check_not_trimmed(st, site, after)
        if not rows:
            break
        applied += apply_journal(site, rows, eng, ingest.handle_many, skip)
        ingest.take_dead()  # the service published these when they arrived
        after = rows[-1][0]
    if blob is None and applied == 0 and not trimmed:
        raise ConfigError(f"--store {shown} --site {site}: the store has nothing of site "
                          f"{site!r} (no checkpoint, no journal); give the --site `serve` "
                          "runs with")
    return Rebuilt(eng, checkpoint, applied, bad)


async def _check_not_trimmed(st, site, after) -> None:
    if after is None:
        if await st.meta_get(site, "trimmed"):
            raise _Moved()  # a first checkpoint was written while we read from the start
        return
    first = await st.journal_read(site, None, 1)
    if first and sid(first[0][0]) > sid(after):
        raise _Moved()


def tail_events(url: str, site: str, eng: Engine, after: str | None,
                in_month: Callable) -> list[bytes]:
    """The month's events still in the journal after `after`, in journal order, encoded as
    the archive writes them (for listing late events)."""
    from kefu_floor.schema import decode_payload, encode

    async def go():
        st = open_store(url)
        out: list[bytes] = []
        a = after
        try:
            while True:
                rows = await st.journal_read(site, a, READ_CHUNK)
                if not rows:
                    return out
                for _, e in rows:
                    try:
                        tick, _, payload = journal_entry(site, e)
                    except ValueError:
                        continue
                    if tick is None:
                        good, _ = decode_payload(payload)
                        good, _ = eng.check_site(good)
                        out += [encode(x) for x in good if in_month(x)]
                a = rows[-1][0]
        finally:
            await st.close()

    try:
        return asyncio.run(go())
    except StoreDown:
        return []
