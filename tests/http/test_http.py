"""HTTP as clients expect it: a home page, HEAD wherever GET is, gzip, 405 with Allow."""

import gzip
import io
from typing import Any

import openpyxl
import pandas
import pytest

from app.http.requests import route_template
from app.main import GZIP_MINIMUM_BYTES
from tests.factories import Api, assert_problem, line, sitrep

GZIP = {"Accept-Encoding": "gzip"}
# httpx asks for gzip unless told otherwise.
IDENTITY = {"Accept-Encoding": "identity"}
# Headers that differ between two answers to the same request, whatever the method.
PER_REQUEST = {"x-request-id", "date", "content-disposition"}


def _headers(response: Any) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in PER_REQUEST}


def _raw(client: Any, method: str, url: str, **kwargs: Any) -> tuple[Any, bytes]:
    """The answer and its body as sent, before httpx decodes any gzip."""
    with client.stream(method, url, **kwargs) as response:
        return response, b"".join(response.iter_raw())


@pytest.fixture
def submitted(api) -> dict[str, Any]:
    field = api("field", countries=["SDN"])
    lines = [line(admin1=f"SD0{i}", reached=100 * i, people_targeted=500) for i in (1, 2, 3)]
    response = field.post("/api/v1/sitreps", json=sitrep(*lines))
    assert response.status_code == 201, response.text
    return {"field": field, "id": response.json()["id"], "etag": response.headers["ETag"]}


def test_the_home_page_redirects_to_the_dashboard(client) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard/"
    assert client.head("/", follow_redirects=False).headers["Location"] == "/dashboard/"
    assert client.get("/").url.path == "/dashboard/"


@pytest.mark.parametrize(
    "url", ["/healthz", "/readyz", "/api/v1/sectors", "/api/v1/me", "/openapi.json", "/docs"]
)
def test_head_answers_wherever_get_does_with_its_headers_and_no_body(client, hq, url) -> None:
    got = hq.get(url)
    head, body = _raw(client, "HEAD", url, headers={"Authorization": f"Bearer {hq.token}"})
    assert got.status_code == head.status_code == 200
    assert body == b""
    assert _headers(head) == _headers(got)


def test_head_of_a_sitrep_has_its_etag_and_of_an_export_its_type(client, submitted) -> None:
    field: Api = submitted["field"]
    url = f"/api/v1/sitreps/{submitted['id']}"
    head = field.request("HEAD", url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["ETag"] == submitted["etag"] == field.get(url).headers["ETag"]
    export = field.request("HEAD", "/api/v1/exports/lines.csv", headers=GZIP)
    assert export.status_code == 200 and export.content == b""
    assert export.headers["content-type"].startswith("text/csv")
    assert export.headers["content-encoding"] == "gzip"


def test_head_of_a_missing_sitrep_is_the_404_without_a_body(client, submitted) -> None:
    head = submitted["field"].request("HEAD", "/api/v1/sitreps/999999")
    assert head.status_code == 404 and head.content == b""
    assert head.headers["content-type"].startswith("application/problem+json")


def test_json_answers_are_compressed_for_clients_that_accept_gzip(client, hq) -> None:
    plain = hq.get("/api/v1/countries", headers=IDENTITY)
    assert "content-encoding" not in plain.headers
    response, body = _raw(
        client, "GET", "/api/v1/countries", headers={**GZIP, "Authorization": f"Bearer {hq.token}"}
    )
    assert response.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["vary"]
    assert gzip.decompress(body) == plain.content
    assert len(body) < len(plain.content) / 3
    assert int(response.headers["content-length"]) == len(body)


def test_small_answers_go_uncompressed(client) -> None:
    response = client.get("/healthz", headers=GZIP)
    assert len(response.content) < GZIP_MINIMUM_BYTES
    assert "content-encoding" not in response.headers


def test_streamed_csv_and_json_exports_are_compressed_and_still_read(client, submitted) -> None:
    field: Api = submitted["field"]
    auth = {"Authorization": f"Bearer {field.token}"}
    for fmt in ("csv", "json"):
        url = f"/api/v1/exports/lines.{fmt}"
        plain = field.get(url, headers=IDENTITY).content
        response, body = _raw(client, "GET", url, headers={**GZIP, **auth})
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "gzip"
        assert "content-length" not in response.headers
        assert gzip.decompress(body) == plain
    frame = pandas.read_csv(io.BytesIO(field.get("/api/v1/exports/lines.csv?hxl=false").content))
    assert frame["people_reached"].tolist() == [100, 200, 300]


def test_the_feed_in_hxl_is_compressed(client, submitted, hq) -> None:
    url = "/api/v1/clusters/shelter/feed?format=hxl"
    plain = hq.get(url, headers=IDENTITY)
    assert plain.status_code == 200, plain.text
    assert len(plain.content) > GZIP_MINIMUM_BYTES
    response, body = _raw(
        client, "GET", url, headers={**GZIP, "Authorization": f"Bearer {hq.token}"}
    )
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == plain.content


def test_xlsx_exports_are_not_compressed_again(client, submitted) -> None:
    field: Api = submitted["field"]
    response = field.get("/api/v1/exports/lines.xlsx", headers=GZIP)
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert openpyxl.load_workbook(io.BytesIO(response.content)).active is not None


def test_etags_and_if_match_hold_through_compression(client, submitted) -> None:
    field: Api = submitted["field"]
    url = f"/api/v1/sitreps/{submitted['id']}"
    read = field.get(url, headers=GZIP)
    assert read.headers["ETag"] == submitted["etag"]
    body = sitrep(line(admin1="SD01", reached=150, people_targeted=200))
    stale = field.put(url, json=body, headers={**GZIP, "If-Match": '"0-0-submitted"'})
    assert_problem(stale, 412)
    amended = field.put(url, json=body, headers={**GZIP, "If-Match": read.headers["ETag"]})
    assert amended.status_code == 200, amended.text
    assert amended.headers["ETag"] != read.headers["ETag"]


def test_a_literal_path_with_a_method_it_lacks_is_a_405_not_a_parameter(client, hq) -> None:
    """PUT /sitreps/batch used to reach PUT /sitreps/{sitrep_id} and answer a 422 about
    sitrep_id."""
    for method in ("PUT", "GET", "DELETE"):
        response = hq.request(method, "/api/v1/sitreps/batch", json={})
        body = assert_problem(response, 405)
        assert response.headers["Allow"] == "POST"
        assert body["detail"] == f"{method} is not supported here; use POST."
    head = hq.request("HEAD", "/api/v1/sitreps/batch")
    assert head.status_code == 405 and head.headers["Allow"] == "POST" and head.content == b""


@pytest.mark.parametrize(
    ("method", "url", "allow"),
    [
        ("POST", "/healthz", "GET, HEAD"),
        ("DELETE", "/api/v1/sitreps", "GET, HEAD, POST"),
        ("POST", "/api/v1/sitreps/1", "DELETE, GET, HEAD, PUT"),
        ("PATCH", "/", "GET, HEAD"),
        ("OPTIONS", "/api/v1/totals", "GET, HEAD"),
    ],
)
def test_a_method_that_is_not_there_is_a_405_with_allow(client, method, url, allow) -> None:
    response = client.request(method, url)
    assert_problem(response, 405)
    assert response.headers["Allow"] == allow


def test_unknown_paths_are_still_404(client) -> None:
    assert_problem(client.put("/api/v1/nothing/here"), 404)
    assert client.head("/api/v1/nothing/here").status_code == 404


def test_logs_and_metrics_name_the_resource_a_405_is_about(client) -> None:
    scope = {"app": client.app, "path": "/api/v1/sitreps/batch", "method": "PUT"}
    assert route_template(scope) == "/api/v1/sitreps/batch"
    scope = {"app": client.app, "path": "/api/v1/sitreps/7", "method": "PUT"}
    assert route_template(scope) == "/api/v1/sitreps/{sitrep_id}"
