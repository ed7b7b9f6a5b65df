"""Serves the dashboard: its pages, their scripts and styles, plotly.js, the world map's
country boundaries, and the sitrep form's service worker.

The pages hold no data and need no token; their scripts call the JSON API with the token
the user signed in with (kept in the browser's sessionStorage, sent as a Bearer header).
Every answer carries a Content-Security-Policy that allows scripts from this origin only.
"""

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from app.dashboard import assets

router = APIRouter(prefix="/dashboard", include_in_schema=False)

# Plotly sets inline styles on the elements it draws, hence style-src 'unsafe-inline';
# scripts come only from this origin, and nothing may be framed, posted elsewhere or
# loaded from another host.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _respond(request: Request, asset: assets.Asset, *, cache_control: str) -> Response:
    headers = {
        **SECURITY_HEADERS,
        "ETag": asset.etag,
        "Cache-Control": cache_control,
        "Vary": "Accept-Encoding",
    }
    if asset.etag in request.headers.get("If-None-Match", ""):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def _page(request: Request, path: str) -> Response:
    # Pages and scripts change with the service: always revalidate (a 304 is cheap).
    return _respond(request, assets.static(assets.PAGES[path]), cache_control="no-cache")


@router.api_route("", methods=["GET", "HEAD"])
def dashboard_root() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=308)


@router.api_route("/", methods=["GET", "HEAD"])
def overview_page(request: Request) -> Response:
    return _page(request, "")


@router.api_route("/country", methods=["GET", "HEAD"])
def country_page(request: Request) -> Response:
    return _page(request, "country")


@router.api_route("/completeness", methods=["GET", "HEAD"])
def completeness_page(request: Request) -> Response:
    return _page(request, "completeness")


@router.api_route("/sign-in", methods=["GET", "HEAD"])
def sign_in_page(request: Request) -> Response:
    return _page(request, "sign-in")


@router.api_route("/sitrep", methods=["GET", "HEAD"])
def sitrep_page(request: Request) -> Response:
    return _page(request, "sitrep")


@router.api_route("/sitreps", methods=["GET", "HEAD"])
def sitreps_page(request: Request) -> Response:
    return _page(request, "sitreps")


@router.api_route("/upload", methods=["GET", "HEAD"])
def upload_page(request: Request) -> Response:
    return _page(request, "upload")


@router.api_route("/sw.js", methods=["GET", "HEAD"])
def service_worker(request: Request) -> Response:
    # Served from /dashboard/, so its scope is the dashboard (Service-Worker-Allowed says so
    # explicitly); never cached by HTTP, so that a release reaches every browser at once.
    response = _respond(request, assets.service_worker(), cache_control="no-cache")
    response.headers["Service-Worker-Allowed"] = "/dashboard/"
    return response


@router.api_route("/static/{name}", methods=["GET", "HEAD"])
def static_file(name: str, request: Request) -> Response:
    return _respond(request, assets.static(name), cache_control="no-cache")


@router.api_route("/vendor/plotly.min.js", methods=["GET", "HEAD"])
def plotly_bundle(request: Request) -> Response:
    # Named by its version in the ETag; a day's caching spares 4.8 MB on every page.
    return _respond(request, assets.plotly(), cache_control="public, max-age=86400")


@router.api_route(f"/vendor/{assets.WORLD}", methods=["GET", "HEAD"])
def world_boundaries(request: Request) -> Response:
    # plotly.js fetches it (config topojsonURL: /dashboard/vendor/) for the overview's map.
    return _respond(request, assets.world(), cache_control="public, max-age=86400")
