"""The sitrep form's pages and its service worker over plain HTTP: the pages with the
dashboard's strict policy and without plotly, the worker served from /dashboard/ with the
offline shell it keeps (every file the pages load, with its ETag), and a version that
follows the files. What the pages do is tested in a real browser (tests/dashboard/browser/)."""

import json
import re

import pytest

from app.dashboard import assets
from tests.pages import assert_strict_page

FORM_PAGES = ["/dashboard/sitrep", "/dashboard/sitreps", "/dashboard/upload"]


def _shell(body: str) -> dict[str, object]:
    prelude = re.match(r"const SHELL = (\{.*?\});\n", body, re.S)
    assert prelude, body[:200]
    return json.loads(prelude.group(1))


@pytest.mark.parametrize("path", FORM_PAGES)
def test_form_pages_keep_the_strict_policy_and_load_no_plotly(client, path: str) -> None:
    assert_strict_page(client, path)
    page = client.get(path).text
    assert "plotly" not in page
    assert 'type="module"' in page
    assert '<link rel="manifest" href="/dashboard/static/manifest.webmanifest">' in page


def test_the_service_worker_is_served_for_the_dashboard_scope(client) -> None:
    response = client.get("/dashboard/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["service-worker-allowed"] == "/dashboard/"
    assert response.headers["cache-control"] == "no-cache"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    again = client.get("/dashboard/sw.js", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


def test_the_offline_shell_is_every_file_the_form_pages_load_with_its_etag(client) -> None:
    shell = _shell(client.get("/dashboard/sw.js").text)
    files: dict[str, str] = shell["files"]  # type: ignore[assignment]
    for path in [*FORM_PAGES, "/dashboard/sign-in"]:
        assert path in files
    for name in (
        "sitrep-form.js",
        "outbox.js",
        "store.js",
        "rules.js",
        "form.css",
        "shell.js",
        "i18n.js",
        "api.js",
        "manifest.webmanifest",
        "icon-192.png",
    ):
        assert f"/dashboard/static/{name}" in files, name
    assert "/dashboard/vendor/plotly.min.js" not in files
    for url, etag in files.items():
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["etag"] == etag, url


def test_a_changed_file_changes_the_worker(client, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _shell(client.get("/dashboard/sw.js").text)["version"]
    real = assets.static

    def changed(name: str) -> assets.Asset:
        asset = real(name)
        if name != "form.css":
            return asset
        return assets.Asset(asset.body, asset.gzipped, asset.media_type, '"a-new-release"')

    monkeypatch.setattr(assets, "static", changed)
    assets.offline_shell.cache_clear()
    assets.service_worker.cache_clear()
    try:
        after = _shell(assets.service_worker().body.decode())
    finally:
        monkeypatch.undo()
        assets.offline_shell.cache_clear()
        assets.service_worker.cache_clear()
    assert after["files"]["/dashboard/static/form.css"] == '"a-new-release"'  # type: ignore[index]
    assert after["version"] != before


def test_the_manifest_makes_the_form_installable(client) -> None:
    response = client.get("/dashboard/static/manifest.webmanifest")
    assert response.headers["content-type"] == "application/manifest+json"
    manifest = response.json()
    assert manifest["start_url"] == "/dashboard/sitrep"
    assert manifest["scope"] == "/dashboard/"
    assert manifest["display"] == "standalone"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        image = client.get(icon["src"])
        assert image.headers["content-type"] == "image/png"
        assert image.content.startswith(b"\x89PNG")
