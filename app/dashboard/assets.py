"""The dashboard's files, read once per process and kept with their gzip and ETag.

Pages, styles and scripts ship in ``static/`` inside the package; the charting library is
the plotly.js bundle inside the installed ``plotly`` Python package, so nothing is copied
into this repository and nothing is fetched from the internet. The world map's country
boundaries are Natural Earth's (public domain), as the ``world-atlas`` npm package ships
them: ``npm ci --prefix app/dashboard`` puts it in ``node_modules/`` beside this module,
and a wheel built after that carries the one file used. The sitrep form's service
worker (``sw.js``, beside this module) is served with the list of the files it keeps for
offline use and their ETags, so that every release that changes one of them installs a new
worker and replaces the old copies.
"""

import gzip
import hashlib
import json
import mimetypes
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from importlib.metadata import version
from importlib.resources.abc import Traversable

from app.errors import NotFound
from app.reference import catalog as reference

# Pages by the path they are served at, below /dashboard/.
PAGES = {
    "": "overview.html",
    "country": "country.html",
    "completeness": "completeness.html",
    "sign-in": "sign-in.html",
    "sitrep": "sitrep.html",
    "sitreps": "sitreps.html",
    "upload": "upload.html",
}
# The pages that work offline (the sitrep form and what it needs): the service worker keeps
# them, and every file they load, in its cache.
OFFLINE_PAGES = ("sitrep", "sitreps", "upload", "sign-in")
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
    ".json": "application/json",
}
# What a page or a module of static/ loads from static/: <script src>, <link href>, and
# ES module imports (static and dynamic) of a sibling file.
_REFERENCE = re.compile(
    r'(?:src|href)="/dashboard/static/([\w.-]+)"'
    r"""|(?:\bfrom\s*|\bimport\s*\(?\s*)["']\./([\w.-]+)["']"""
    r'|"src":\s*"/dashboard/static/([\w.-]+)"'
)


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


def _folder() -> Traversable:
    return resources.files("app.dashboard") / "static"


@lru_cache
def static_names() -> frozenset[str]:
    return frozenset(entry.name for entry in _folder().iterdir() if entry.is_file())


@lru_cache
def static(name: str) -> Asset:
    """One of the files in static/ (a page, a style sheet, a script); 404 for anything
    else, including any name with a path in it."""
    if name not in static_names():
        raise NotFound(f"The dashboard has no file named {name!r}.")
    return _asset((_folder() / name).read_bytes(), name)


def _loaded_by(name: str) -> set[str]:
    text = static(name).body.decode("utf-8", errors="replace")
    found = {next(g for g in match.groups() if g) for match in _REFERENCE.finditer(text)}
    return {n for n in found if n in static_names()}


@lru_cache
def offline_shell() -> dict[str, str]:
    """{URL: ETag} of the offline pages and every file they load, transitively."""
    shell = {f"/dashboard/{path}": static(PAGES[path]).etag for path in OFFLINE_PAGES}
    pending = [PAGES[path] for path in OFFLINE_PAGES]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for found in _loaded_by(name):
            shell[f"/dashboard/static/{found}"] = static(found).etag
            pending.append(found)
    return dict(sorted(shell.items()))


@lru_cache
def service_worker() -> Asset:
    """sw.js, preceded by the offline shell and a version made of its ETags."""
    shell = offline_shell()
    version = hashlib.sha256(json.dumps(shell, sort_keys=True).encode()).hexdigest()[:16]
    prelude = f"const SHELL = {json.dumps({'version': version, 'files': shell}, indent=1)};\n"
    source = (resources.files("app.dashboard") / "sw.js").read_bytes()
    return _asset(prelude.encode() + source, "sw.js")


@lru_cache
def plotly() -> Asset:
    """plotly.js as shipped inside the plotly Python package."""
    bundle = resources.files("plotly") / "package_data" / "plotly.min.js"
    asset = _asset(bundle.read_bytes(), "plotly.min.js")
    return Asset(asset.body, asset.gzipped, asset.media_type, f'"plotly-{version("plotly")}"')


# Natural Earth's 1:110m countries, under the name plotly.js asks its topojsonURL for
# (scope "world", resolution 110).
WORLD = "world_110m.json"


def _boundaries() -> Traversable:
    return resources.files("app.dashboard") / "node_modules" / "world-atlas" / "countries-110m.json"


@lru_cache
def world() -> Asset:
    """Natural Earth's country boundaries (TopoJSON, objects ``countries`` and ``land``),
    each country's id turned from its ISO 3166-1 numeric code into the alpha-3 code the API
    uses, so that plotly.js's choropleth finds a country by the code a totals row carries.
    A boundary with no code of the country table (Kosovo, N. Cyprus, Somaliland) keeps its
    shape and loses its id: it is drawn as land and never coloured."""
    source = _boundaries()
    if not source.is_file():
        raise NotFound(
            "The world map's country boundaries are not installed on this server: run "
            "`npm ci --prefix app/dashboard` in the service's source folder, then install "
            "or restart it (README, Quick start)."
        )
    topology = json.loads(source.read_bytes())
    alpha3 = {c.m49: c.code for c in reference.countries().values() if c.m49 is not None}
    for geometry in topology["objects"]["countries"]["geometries"]:
        code = alpha3.get(int(geometry.pop("id"))) if "id" in geometry else None
        if code is not None:
            geometry["id"] = code
    return _asset(json.dumps(topology, separators=(",", ":")).encode(), WORLD)
