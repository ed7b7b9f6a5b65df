"""Checks of the dashboard's pages that several test modules make."""

from html.parser import HTMLParser
from typing import Any


class Tags(HTMLParser):
    """The tags of a page, as (name, attributes)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data


def tags(html: str) -> Tags:
    """The tags of a page, and the text of its inline scripts."""
    parser = Tags()
    parser.feed(html)
    return parser


def assert_strict_page(client: Any, path: str) -> None:
    """The page is HTML served with a strict Content-Security-Policy, and holds nothing that
    policy would block: no inline script, no inline event handler."""
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    page = tags(response.text)
    # No inline script and no inline event handler: script-src 'self' would block them.
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert scripts and all(attrs.get("src", "").startswith("/dashboard/") for attrs in scripts)
    assert page.script_text.strip() == ""
    assert not [a for _, attrs in page.tags for a in attrs if a.startswith("on")]
    viewport = [a for tag, a in page.tags if tag == "meta" and a.get("name") == "viewport"]
    assert viewport and "width=device-width" in (viewport[0]["content"] or "")
