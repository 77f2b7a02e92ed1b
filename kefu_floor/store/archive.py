"""The audit archive (`serve --archive DIR`): each site-day's accepted events as gzip JSON
Lines in the replay format, DIR/SITE/YYYY-MM-DD.jsonl.gz, so any day can be re-scored with
`kefu-floor replay DIR/SITE/DAY.jsonl.gz` and compared. The Redis journal is not the
archive: it is trimmed behind every checkpoint.

Events are buffered and written (one gzip member per file per flush, fsynced) just before
each checkpoint is written, so the archive covers at least what the checkpoint covers; a
restart re-applies the journal tail after the checkpoint, which archives those events. A
crash between the archive flush and the checkpoint write archives that stretch twice (replay
drops the repeats of events with src/seq).
"""
from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path

from kefu_floor.errors import ConfigError
from kefu_floor.localtime import day_str, local_day_of
from kefu_floor.schema import decode_payload, encode

log = logging.getLogger("kefu_floor.store")


class Archive:
    def __init__(self, folder: str | Path, engines: dict):
        self.folder = Path(folder)
        self.engines = engines
        try:
            for site in engines:
                (self.folder / site).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"--archive {folder}: cannot create it ({e.strerror})") from None
        self._buf: dict[tuple[str, str], list[bytes]] = {}
        self.written = 0

    def add(self, site: str, payloads: list[bytes]) -> None:
        """Note a site's applied messages (their accepted events are archived)."""
        eng = self.engines[site]
        tz = eng.policy.tz
        for p in payloads:
            good, _ = decode_payload(p)
            good, _ = eng.check_site(good)
            for e in good:
                day = day_str(local_day_of(e.ts, tz))
                self._buf.setdefault((site, day), []).append(encode(e))

    def flush(self) -> None:
        for (site, day), lines in self._buf.items():
            path = self.folder / site / f"{day}.jsonl.gz"
            try:
                with open(path, "ab") as raw:
                    with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as z:
                        z.write(b"\n".join(lines) + b"\n")
                    raw.flush()
                    os.fsync(raw.fileno())
            except OSError as e:
                # the journal still has them until the checkpoint: say so, keep serving
                log.error("archive %s: cannot write (%s); %d events not archived", path,
                          e.strerror, len(lines))
                continue
            self.written += len(lines)
        self._buf.clear()
