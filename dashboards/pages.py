"""The browser pages (`dashboards/static/`) as the feed server serves them.

The service does not look for its pages: whoever composes it (`kefu-floor serve`, the demo)
passes `pages=static_pages()` into `ServiceConfig`, so the live layer never reaches up into
its clients, and a service built without pages answers 404 for them.
"""
from __future__ import annotations

import mimetypes
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"

# what a page may be; anything else in the folder is served as bytes
_TEXT = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
         ".json": "application/json", ".svg": "image/svg+xml", ".txt": "text/plain"}


def static_pages(root: Path = STATIC) -> dict[str, tuple[str, bytes]]:
    """Every file of `dashboards/static/` under /static/NAME and /NAME; `/` and `/wallboard`
    are wallboard.html."""
    pages: dict[str, tuple[str, bytes]] = {}
    if not root.is_dir():
        return pages
    for f in sorted(root.rglob("*")):
        if not f.is_file() or any(p.startswith(".") for p in f.relative_to(root).parts):
            continue
        rel = f.relative_to(root).as_posix()
        ext = f.suffix.lower()
        ctype = (f"{_TEXT[ext]}; charset=utf-8" if ext in _TEXT else
                 mimetypes.guess_type(f.name)[0] or "application/octet-stream")
        page = (ctype, f.read_bytes())
        pages[f"/static/{rel}"] = pages[f"/{rel}"] = page
    if "/wallboard.html" in pages:
        pages["/"] = pages["/wallboard"] = pages["/wallboard.html"]
    return pages
