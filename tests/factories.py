"""Small factories: users with tokens, valid sitrep bodies, and an authenticated client."""

import itertools
import time
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.auth import service as auth
from app.auth.models import Role
from app.db import get_engine, new_session
from app.sitreps import order

_names = itertools.count(1)


# The HXL hashtags DOMAIN.md names for a feed line ("Exchange formats").
DOMAIN_HXL_TAGS = (
    "#country+code",
    "#adm1+code",
    "#adm2+code",
    "#sector+code",
    "#meta+division",
    "#meta+phase",
    "#crisis+id",
    "#date+start",
    "#date+end",
    "#reached",
    "#reached+new",
    "#reached+f+adults",
    "#reached+m+adults",
    "#reached+f+children",
    "#reached+m+children",
    "#targeted",
    "#meta+id",
)


def make_user(
    role: str,
    *,
    countries: tuple[str, ...] | list[str] = (),
    clusters: tuple[str, ...] | list[str] = (),
    name: str | None = None,
    engine: Engine | None = None,
) -> str:
    """Creates a user and returns its API token, in the tests' database or ``engine``'s. Its
    transaction takes SQLite's write lock when it begins, as the service's writes do: one
    that read first could not take it once a server's writer had committed ("database is
    locked")."""
    with new_session(writes=True) if engine is None else Session(engine) as session:
        user = auth.create_user(
            session,
            name=name or f"{role}-{next(_names)}",
            role=Role(role),
            countries=countries,
            clusters_=clusters,
        )
        token = auth.issue_token(session, user=user)
        session.commit()
    return token


class Api:
    """A test client that sends one user's token with every request."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.token = token

    def request(self, method: str, url: str, **kwargs: Any) -> Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Response:
        return self.request("DELETE", url, **kwargs)


def line(
    sector: str = "shelter",
    *,
    division: str = "hod",
    phase: str = "response",
    admin1: str | None = "SD01",
    admin2: str | None = None,
    reached: int = 100,
    new: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sector": sector,
        "division": division,
        "phase": phase,
        "admin1": admin1,
        "admin2": admin2,
        "people_reached": reached,
    }
    if new is not None:
        body["people_reached_new"] = new
    body.update(extra)
    return body


# A disaggregation that adds up to 100.
DISAGGREGATED = {"women": 40, "men": 30, "girls": 20, "boys": 10}


def full_line() -> dict[str, Any]:
    """A shelter line of Sudan that gives every optional figure."""
    return line(
        "shelter",
        admin1="SD01",
        admin2="SD01002",
        reached=100,
        new=60,
        people_targeted=120,
        disaggregation=DISAGGREGATED,
        persons_with_disabilities=4,
        indicators={"households_assisted": 25},
    )


def sitrep(
    *lines: dict[str, Any],
    country: str = "SDN",
    start: str = "2024-03-01",
    end: str = "2024-03-31",
    crisis_id: int | None = None,
    narrative: str | None = "Displacement continued.",
) -> dict[str, Any]:
    return {
        "country": country,
        "crisis_id": crisis_id,
        "period_start": start,
        "period_end": end,
        "narrative": narrative,
        "lines": list(lines) if lines else [line()],
    }


def register_crisis(
    hq: Api,
    countries: list[str],
    *,
    name: str = "Sudan conflict",
    started_on: str = "2023-04-15",
) -> int:
    """Registers a conflict that must be accepted; its id."""
    response = hq.post(
        "/api/v1/crises",
        json={"name": name, "kind": "conflict", "countries": countries, "started_on": started_on},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def submit(user: Api, body: dict[str, Any]) -> dict[str, Any]:
    """POSTs a sitrep that must be accepted; its body, with its ETag under "etag"."""
    response = user.post("/api/v1/sitreps", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    created["etag"] = response.headers["ETag"]
    return created


def current(user: Api, sitrep_id: int) -> dict[str, Any]:
    """A sitrep as it is now, with its ETag under "etag"."""
    response = user.get(f"/api/v1/sitreps/{sitrep_id}")
    assert response.status_code == 200, response.text
    read: dict[str, Any] = response.json()
    read["etag"] = response.headers["ETag"]
    return read


def amend(user: Api, s: dict[str, Any], body: dict[str, Any]) -> Response:
    """PUTs a new revision of s (as submit or current gave it), If-Match its ETag."""
    return user.put(f"/api/v1/sitreps/{s['id']}", json=body, headers={"If-Match": s["etag"]})


def withdraw(user: Api, s: dict[str, Any], reason: str = "entered twice") -> Response:
    """DELETEs s as it is now."""
    return user.delete(
        f"/api/v1/sitreps/{s['id']}",
        json={"reason": reason},
        headers={"If-Match": current(user, s["id"])["etag"]},
    )


def assert_problem(response: Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    return body


def wait_for_feed_watermark(timeout: float = 30) -> None:
    """Until every committed line is past the feed's watermark (app.sitreps.order): on
    PostgreSQL a transaction in the database that holds a transaction id (a test's own
    open session, autovacuum's ANALYZE) holds back the lines written after it began, for
    as long as it runs."""
    if get_engine().dialect.name != "postgresql":
        return
    deadline = time.monotonic() + timeout
    with get_engine().connect() as connection:
        while True:
            newest, watermark = connection.exec_driver_sql(
                f"SELECT (SELECT coalesce(max(feed_xid), 0) FROM sitrep_lines), ({order.WATERMARK})"
            ).one()
            connection.rollback()
            if newest < watermark:
                return
            assert time.monotonic() < deadline, "the feed's watermark did not pass the lines"
            time.sleep(0.05)
