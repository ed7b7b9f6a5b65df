"""The dashboard's files, read once per process and kept with their gzip and ETag.

Pages, styles and scripts ship in ``static/`` inside the package; the charting library is
the plotly.js bundle inside the installed ``plotly`` Python package, so nothing is copied
into this repository and nothing is fetched from the internet.
"""

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from importlib.metadata import version

from app.errors import NotFound

# Pages by the path they are served at, below /dashboard/.
PAGES = {
    "": "overview.html",
    "country": "country.html",
    "completeness": "completeness.html",
    "sign-in": "sign-in.html",
}
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes
    media_type: str
    etag: str


def _asset(body: bytes, name: str) -> Asset:
    suffix = name[name.rfind(".") :]
    media_type = MEDIA_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "text/plain"
    return Asset(
        body=body,
        # mtime=0: the same bytes on every start, so the ETag holds across processes.
        gzipped=gzip.compress(body, compresslevel=6, mtime=0),
        media_type=media_type,
        etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"',
    )


@lru_cache
def static(name: str) -> Asset:
    """One of the files in static/ (a page, a style sheet, a script); 404 for anything
    else, including any name with a path in it."""
    folder = resources.files("app.dashboard") / "static"
    names = {entry.name for entry in folder.iterdir() if entry.is_file()}
    if name not in names:
        raise NotFound(f"The dashboard has no file named {name!r}.")
    return _asset((folder / name).read_bytes(), name)


@lru_cache
def plotly() -> Asset:
    """plotly.js as shipped inside the plotly Python package."""
    bundle = resources.files("plotly") / "package_data" / "plotly.min.js"
    asset = _asset(bundle.read_bytes(), "plotly.min.js")
    return Asset(asset.body, asset.gzipped, asset.media_type, f'"plotly-{version("plotly")}"')
