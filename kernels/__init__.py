"""Pure numba kernels: numpy arrays in, arrays out. No I/O, no asyncio, no Python objects.

The service (`kefu_floor`) owns the arrays and calls these functions; the column layout
of every state array lives in `kernels.layout` so both sides agree on it.
"""

import hashlib as _hashlib
import os as _os
from pathlib import Path as _Path


def _invalidate_stale_cache() -> None:
    """numba's on-disk cache (cache=True) is keyed by the content of the kernel's own file
    only, but a kernel compiles the constants it imports from `kernels.layout` (or any
    sibling) into its machine code: after editing only layout.py, every kernel would load
    code with the old column numbers. So a digest of all of this package's files is kept in
    the cache folder numba uses for it (`__pycache__`, or under NUMBA_CACHE_DIR); when it
    differs, that folder's cached kernels are deleted and compile afresh. Where nothing can
    be written (a read-only install) nothing is cached either, and this does nothing."""
    from numba.core import caching

    # numba 0.61 renamed _CacheImpl to CacheImpl
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    here = _Path(__file__).parent
    srcs = sorted(here.glob("*.py"))
    h = _hashlib.sha256()
    for p in srcs:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    digest = h.hexdigest()
    try:
        for cls in impl._locator_classes:  # where numba will look, in its own order
            loc = cls.from_function(_invalidate_stale_cache, __file__)
            if loc is not None:
                break
        else:
            return
        cache = _Path(loc.get_cache_path())
        stamp = cache / "kernels-sources.sha256"
        if stamp.is_file() and stamp.read_text() == digest:
            return
        mods = tuple(p.stem + "." for p in srcs if p.stem != "__init__")
        for f in cache.iterdir():
            if f.suffix in (".nbi", ".nbc") and f.name.startswith(mods):
                f.unlink(missing_ok=True)
        tmp = cache / f"kernels-sources.{_os.getpid()}.tmp"
        tmp.write_text(digest)
        _os.replace(tmp, stamp)
    except (OSError, AttributeError):  # AttributeError: numba's internals moved
        pass


_invalidate_stale_cache()
