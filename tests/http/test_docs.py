"""/docs and /redoc work with no internet: every script, style and icon they load comes
from this service (the bundles inside the installed fastapi-offline package)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

ABSOLUTE_URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""")


class _References(HTMLParser):
    """The URLs a page makes the browser load: scripts, style sheets, icons, the spec."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.icons: list[str] = []
        self.specs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "script" and values.get("src"):
            self.scripts.append(values["src"])
        elif tag == "link" and "stylesheet" in values.get("rel", ""):
            self.styles.append(values["href"])
        elif tag == "link" and "icon" in values.get("rel", ""):
            self.icons.append(values["href"])
        elif tag == "redoc":
            self.specs.append(values["spec-url"])


def _references(html: str) -> _References:
    parser = _References()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_page_names_no_other_host(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    # Same-origin absolute URLs would be fine; there are none, and no other host at all.
    foreign = [
        url for url in ABSOLUTE_URL.findall(response.text) if urlsplit(url).netloc != "testserver"
    ]
    assert foreign == []
    refs = _references(response.text)
    for url in refs.scripts + refs.styles + refs.icons:
        assert url.startswith("/"), url


@pytest.mark.parametrize(
    ("path", "scripts", "styles"),
    [("/docs", 1, 1), ("/redoc", 1, 0)],
)
def test_every_asset_of_the_docs_answers(client, path: str, scripts: int, styles: int) -> None:
    refs = _references(client.get(path).text)
    assert (len(refs.scripts), len(refs.styles), len(refs.icons)) == (scripts, styles, 1)
    for url in refs.scripts:
        response = client.get(url)
        assert response.status_code == 200, url
        assert re.match(r"(text|application)/javascript", response.headers["content-type"]), url
        assert len(response.content) > 100_000, url  # the bundle itself, not a stub
    for url in refs.styles:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith("text/css"), url
        assert b".swagger-ui" in response.content
    for url in refs.icons:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"] == "image/png"


def test_the_bundles_are_swagger_ui_and_redoc(client) -> None:
    swagger = _references(client.get("/docs").text).scripts[0]
    assert b"SwaggerUIBundle" in client.get(swagger).content
    redoc = _references(client.get("/redoc").text).scripts[0]
    assert b"Redoc" in client.get(redoc).content


def test_docs_load_this_services_openapi_document(client) -> None:
    assert "url: '/openapi.json'" in client.get("/docs").text
    assert _references(client.get("/redoc").text).specs == ["/openapi.json"]
    assert client.get("/openapi.json").json()["info"]["title"] == "crisis-tracker"


def test_swagger_ui_can_authorize_with_a_bearer_token(client) -> None:
    """Authorize in /docs offers the bearer scheme of the document; its OAuth2 redirect page
    (which Swagger UI wires in) is served too."""
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert [s["scheme"].lower() for s in schemes.values() if s["type"] == "http"] == ["bearer"]
    assert "/docs/oauth2-redirect" in client.get("/docs").text
    redirect = client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200
    assert "oauth2" in redirect.text.lower()
    assert ABSOLUTE_URL.findall(redirect.text) == []


def test_swagger_ui_fetches_no_validator_badge(client) -> None:
    assert '"validatorUrl": null' in client.get("/docs").text


def test_an_unknown_docs_asset_is_404(client) -> None:
    assert client.get("/docs/static/nothing.js").status_code == 404
