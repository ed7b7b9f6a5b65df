"""The dashboard's routes over plain HTTP: pages, scripts, styles and the plotly bundle,
their content types, the Content-Security-Policy, caching, and that nothing comes from
another host. What the pages show is tested in a real browser (tests/dashboard/browser/)."""

import json
import re
from importlib import resources
from pathlib import Path

import pytest

from app.dashboard import assets
from tests.factories import assert_problem
from tests.pages import assert_strict_page, tags

PAGES = ["/dashboard/", "/dashboard/country", "/dashboard/completeness", "/dashboard/sign-in"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_html_with_a_strict_script_policy(client, path: str) -> None:
    assert_strict_page(client, path)


def test_pages_need_no_token_and_hold_no_data(client) -> None:
    """The pages are the same for everyone; data comes from the API with the user's token."""
    response = client.get("/dashboard/", headers={"Authorization": "Bearer ct_nonsense"})
    assert response.status_code == 200
    assert "ct_" not in response.text


def test_every_referenced_file_is_served_with_its_type(client) -> None:
    types = {
        ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".svg": "image/svg+xml",
    }
    referenced: set[str] = set()
    for path in PAGES:
        for _, attrs in tags(client.get(path).text).tags:
            for name in ("src", "href"):
                value = attrs.get(name) or ""
                if re.search(r"\.(js|css|svg)$", value):
                    referenced.add(value)
    assert "/dashboard/vendor/plotly.min.js" in referenced
    assert "/dashboard/static/dashboard.css" in referenced
    for url in referenced:
        response = client.get(url)
        assert response.status_code == 200, url
        suffix = url[url.rfind(".") :]
        assert response.headers["content-type"] == types[suffix], url
        assert "script-src 'self'" in response.headers["content-security-policy"]


def test_pages_load_their_scripts_as_modules_and_every_import_is_served(client) -> None:
    """Each page's script is an ES module (no build step); plotly, a classic script, only
    on the pages with charts. Every module a page imports, and every module those import,
    is served as JavaScript, so no page breaks on a missing file."""
    seen: set[str] = set()
    pending: list[str] = []
    for path in PAGES:
        scripts = [a for tag, a in tags(client.get(path).text).tags if tag == "script"]
        modules = [a["src"] for a in scripts if a.get("type") == "module"]
        classic = [a["src"] for a in scripts if a.get("type") != "module"]
        assert len(modules) == 1, path
        assert classic in ([], ["/dashboard/vendor/plotly.min.js"]), path
        pending += [m for m in modules if m]
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"] == "text/javascript; charset=utf-8", url
        for name in re.findall(r'^import[^;]*?["\'](\./[\w.-]+\.js)["\']', response.text, re.M):
            pending.append("/dashboard/static/" + name[2:])
    assert {"/dashboard/static/shell.js", "/dashboard/static/i18n.js"} <= seen


def test_scripts_build_the_page_without_html_parsing() -> None:
    """Text from the API never becomes markup: no script sets innerHTML or writes HTML."""
    folder = resources.files("app.dashboard") / "static"
    for entry in folder.iterdir():
        if entry.name.endswith(".js"):
            text = entry.read_text(encoding="utf-8")
            for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
                assert risky not in text, (entry.name, risky)


def test_plotly_is_the_bundle_of_the_installed_package(client) -> None:
    shipped = (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    response = client.get("/dashboard/vendor/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.content == shipped  # httpx decodes the gzip
    assert b"plotly.js v" in shipped[:200]
    assert "max-age" in response.headers["cache-control"]
    etag = response.headers["etag"]
    again = client.get("/dashboard/vendor/plotly.min.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""


def test_world_boundaries_are_natural_earths_keyed_by_alpha3(client, api) -> None:
    """The map's boundaries: world-atlas's Natural Earth 1:110m countries, each id turned
    from ISO 3166-1 numeric into the alpha-3 code totals rows carry."""
    source = resources.files("app.dashboard") / "node_modules" / "world-atlas"
    shipped = json.loads((source / "countries-110m.json").read_bytes())
    response = client.get("/dashboard/vendor/world_110m.json", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-encoding"] == "gzip"
    assert "max-age" in response.headers["cache-control"]
    topology = response.json()
    assert topology["type"] == "Topology" and set(topology["objects"]) == {"countries", "land"}
    # The shapes are the package's own, untouched.
    assert topology["arcs"] == shipped["arcs"] and topology["transform"] == shipped["transform"]
    served = topology["objects"]["countries"]["geometries"]
    original = shipped["objects"]["countries"]["geometries"]
    assert [g["arcs"] for g in served] == [g["arcs"] for g in original]
    ids = {g["properties"]["name"]: g.get("id") for g in served}
    assert ids["Sudan"] == "SDN" and ids["Afghanistan"] == "AFG" and ids["Chad"] == "TCD"
    assert ids["Haiti"] == "HTI" and ids["Norway"] == "NOR" and ids["Fiji"] == "FJI"
    # Boundaries without a code of the country table keep their shape and have no id.
    assert {name for name, code in ids.items() if code is None} == {
        "Kosovo",
        "N. Cyprus",
        "Somaliland",
    }
    known = {c["code"] for c in api("hq").get("/api/v1/countries").json()}
    assert {code for code in ids.values() if code} <= known
    assert len(served) == 177
    again = client.get(
        "/dashboard/vendor/world_110m.json", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""


def test_world_boundaries_not_installed_say_how_to_install_them(client, monkeypatch) -> None:
    monkeypatch.setattr(assets, "_boundaries", lambda: Path("/nonexistent/countries-110m.json"))
    assets.world.cache_clear()
    try:
        body = assert_problem(client.get("/dashboard/vendor/world_110m.json"), 404)
    finally:
        assets.world.cache_clear()
    assert "npm ci --prefix app/dashboard" in body["detail"]


def test_plain_and_gzip_answers_hold_the_same_bytes(client) -> None:
    name = "/dashboard/static/dashboard-messages.js"
    plain = client.get(name, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    packed = client.get(name, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.content == plain.content
    assert packed.headers["vary"] == "Accept-Encoding"
    assert int(packed.headers["content-length"]) < len(plain.content)


def test_own_files_are_revalidated_by_etag(client) -> None:
    first = client.get("/dashboard/")
    assert first.headers["cache-control"] == "no-cache"
    second = client.get("/dashboard/", headers={"If-None-Match": first.headers["etag"]})
    assert second.status_code == 304
    assert "script-src 'self'" in second.headers["content-security-policy"]


def test_head_is_answered(client) -> None:
    response = client.head("/dashboard/country")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_dashboard_without_slash_redirects(client) -> None:
    response = client.get("/dashboard", follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"] == "/dashboard/"


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/static/nothing.js",
        "/dashboard/static/..%2F__init__.py",
        "/dashboard/static/%2E%2E%2Fassets.py",
        "/dashboard/static/../router.py",
        "/dashboard/vendor/plotly.js",
        "/dashboard/nowhere",
    ],
)
def test_unknown_files_are_404_problems(client, path: str) -> None:
    assert_problem(client.get(path), 404)


def test_nothing_is_loaded_from_another_host() -> None:
    """The dashboard works with no internet: no file names a URL with a host."""
    folder = resources.files("app.dashboard") / "static"
    for entry in folder.iterdir():
        if entry.name.endswith(".png"):  # the app icons: pixels, nothing to fetch
            continue
        # An SVG names its XML namespace by URL; nothing is fetched from it.
        text = entry.read_text(encoding="utf-8").replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), entry.name
        assert "@import" not in text and "fonts.googleapis" not in text


def test_dashboard_is_not_in_the_api_description(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/dashboard")]
