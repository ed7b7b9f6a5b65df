"""Cluster feeds: GET /api/v1/clusters and GET /api/v1/clusters/{code}/feed.

The key property (API.md, "Cluster feed"): a consumer that pulls the feed page by page,
applies every item in order (upsert by line_id, delete when withdrawn) and resumes later
from its saved cursor holds exactly the live lines of its cluster, as GET /api/v1/sitreps
shows them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import hxl

from app.pagination import encode_cursor
from tests.factories import (
    DISAGGREGATED,
    DOMAIN_HXL_TAGS,
    Api,
    assert_problem,
    full_line,
    line,
    register_crisis,
    sitrep,
)

SITREPS = "/api/v1/sitreps"
CLUSTERS = "/api/v1/clusters"

CLUSTER_SECTORS = {
    "cccm": ["cccm"],
    "shelter": ["shelter"],
    "wash": ["wash"],
    "health": ["health"],
    "cwg": ["cash"],
}

ITEM_FIELDS = {
    "line_id",
    "sitrep_id",
    "revision",
    "status",
    "country",
    "admin1",
    "admin2",
    "sector",
    "division",
    "phase",
    "crisis_id",
    "period_start",
    "period_end",
    "people_reached",
    "people_reached_new",
    "people_reached_cumulative",
    "people_targeted",
    "disaggregation",
    "persons_with_disabilities",
    "indicators",
    "updated_at",
}

# What a consumer keeps of a line: everything but status and updated_at.
HEADER_FIELDS = ("sitrep_id", "revision", "country", "crisis_id", "period_start", "period_end")
LINE_FIELDS = (
    "sector",
    "division",
    "phase",
    "admin1",
    "admin2",
    "people_reached",
    "people_reached_new",
    "people_reached_cumulative",
    "people_targeted",
    "disaggregation",
    "persons_with_disabilities",
    "indicators",
)


# --- helpers ---------------------------------------------------------------------------


def feed_url(code: str) -> str:
    return f"{CLUSTERS}/{code}/feed"


def submit(field: Api, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    resp = field.post(SITREPS, json=body)
    assert resp.status_code == 201, resp.text
    return resp.json(), resp.headers["ETag"]


def amend(field: Api, sitrep_id: int, etag: str, body: dict[str, Any]) -> tuple[dict, str]:
    resp = field.put(f"{SITREPS}/{sitrep_id}", json=body, headers={"If-Match": etag})
    assert resp.status_code == 200, resp.text
    return resp.json(), resp.headers["ETag"]


def withdraw(field: Api, sitrep_id: int, etag: str) -> dict[str, Any]:
    resp = field.delete(
        f"{SITREPS}/{sitrep_id}",
        json={"reason": "Duplicate of another office's report."},
        headers={"If-Match": etag},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "withdrawn"
    return resp.json()


def get_feed(reader: Api, code: str, **params: Any) -> dict[str, Any]:
    resp = reader.get(feed_url(code), params=params)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"items", "next_cursor"}
    assert isinstance(body["next_cursor"], str) and body["next_cursor"]
    for item in body["items"]:
        assert set(item) == ITEM_FIELDS
        assert item["sector"] in CLUSTER_SECTORS[code]
    return body


def next_link(resp: Any) -> str:
    match = re.fullmatch(r'<([^>]+)>; rel="next"', resp.headers["Link"])
    assert match, resp.headers["Link"]
    return match.group(1)


def kept(item: dict[str, Any]) -> dict[str, Any]:
    return {name: item[name] for name in (*HEADER_FIELDS, *LINE_FIELDS)}


def live_lines(
    reader: Api, code: str, countries: list[str] | None = None
) -> dict[int, dict[str, Any]]:
    """The live lines of a cluster as GET /api/v1/sitreps shows them: the latest revision of
    every sitrep that is not withdrawn, lines of the cluster's sectors."""
    lines: dict[int, dict[str, Any]] = {}
    params: dict[str, Any] = {"limit": 3}
    while True:
        page = reader.get(SITREPS, params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        for s in body["items"]:
            if s["status"] != "submitted":
                continue
            if countries is not None and s["country"] not in countries:
                continue
            header = {
                "sitrep_id": s["id"],
                "revision": s["revision"],
                "country": s["country"],
                "crisis_id": s["crisis_id"],
                "period_start": s["period_start"],
                "period_end": s["period_end"],
            }
            for ln in s["lines"]:
                if ln["sector"] in CLUSTER_SECTORS[code]:
                    assert ln["id"] not in lines
                    lines[ln["id"]] = {**header, **{name: ln[name] for name in LINE_FIELDS}}
        if body["next_cursor"] is None:
            return lines
        params["cursor"] = body["next_cursor"]


class Consumer:
    """A 4W/5W tool pulling one cluster's feed: pages until a short page, applies every item
    (upsert by line_id, delete when withdrawn), keeps the last next_cursor."""

    def __init__(
        self, reader: Api, code: str, *, limit: int = 2, countries: list[str] | None = None
    ) -> None:
        self.reader = reader
        self.code = code
        self.limit = limit
        self.countries = countries
        self.cursor: str | None = None
        self.held: dict[int, dict[str, Any]] = {}

    def sync(self, between_pages: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
        """Pulls until caught up; returns every item received. ``between_pages(n)`` runs
        after the n-th page (writes while a consumer is paging)."""
        received: list[dict[str, Any]] = []
        concurrent = between_pages is not None
        for n in range(200):
            params: dict[str, Any] = {"limit": self.limit}
            if self.cursor is not None:
                params["since"] = self.cursor
            if self.countries is not None:
                params["country"] = ",".join(self.countries)
            page = get_feed(self.reader, self.code, **params)
            assert len(page["items"]) <= self.limit
            for item in page["items"]:
                if self.countries is not None:
                    assert item["country"] in self.countries
                if self.cursor is None:
                    assert item["status"] == "submitted"  # a first pull has live lines only
                if item["status"] == "submitted":
                    self.held[item["line_id"]] = kept(item)
                else:
                    assert item["status"] == "withdrawn", item
                    self.held.pop(item["line_id"], None)
            received += page["items"]
            self.cursor = page["next_cursor"]
            if len(page["items"]) < self.limit:
                if not concurrent:
                    # With no writes during the sync, each line comes once.
                    ids = [item["line_id"] for item in received]
                    assert len(ids) == len(set(ids)), ids
                return received
            if between_pages is not None:
                between_pages(n)
        raise AssertionError("the feed never returned a short page")


# --- the cluster list ------------------------------------------------------------------


def test_clusters_list(api) -> None:
    resp = api("field", countries=["SDN"]).get(CLUSTERS)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert {c["code"]: c["sectors"] for c in body} == CLUSTER_SECTORS
    for cluster in body:
        assert set(cluster) == {"code", "name", "sectors", "lead_agencies", "note"}
        assert cluster["name"] and cluster["note"] and cluster["lead_agencies"]
    by_code = {c["code"]: c for c in body}
    assert by_code["wash"]["lead_agencies"] == ["UNICEF"]
    assert by_code["health"]["lead_agencies"] == ["WHO"]
    assert "IOM" in by_code["cccm"]["lead_agencies"]


# --- the key property ------------------------------------------------------------------


def test_consumer_applying_pages_holds_exactly_the_live_lines(api) -> None:
    field = api("field", countries=["SDN", "TCD"])
    hq = api("hq")
    consumers = [
        Consumer(api("coordinator", clusters=["shelter"]), "shelter", limit=2),
        Consumer(api("coordinator", clusters=["shelter"]), "shelter", limit=1),
        Consumer(api("coordinator", clusters=["wash"], countries=["TCD"]), "wash", limit=2),
        Consumer(api("coordinator", clusters=["cccm", "shelter"]), "cccm", limit=3),
        Consumer(hq, "shelter", limit=2, countries=["SDN"]),
        Consumer(api("admin"), "cwg", limit=2),
    ]
    scope = {id(c): c.countries for c in consumers}
    scope[id(consumers[2])] = ["TCD"]  # narrowed by the coordinator's own countries

    def check(*, round_: str) -> None:
        for consumer in consumers:
            consumer.sync()
            expected = live_lines(hq, consumer.code, scope[id(consumer)])
            assert consumer.held == expected, (round_, consumer.code, consumer.limit)

    # Before any consumer starts: a mix of sectors and countries, and a withdrawn sitrep.
    a, a_tag = submit(
        field,
        sitrep(
            line("shelter", admin1="SD01", reached=500, new=200),
            line("shelter", admin1="SD02", reached=300),
            line("wash", admin1="SD01", reached=800),
            line("cash", admin1="SD01", reached=50, indicators={"cash_usd": "1250.50"}),
        ),
    )
    b, b_tag = submit(
        field,
        sitrep(
            line("shelter", admin1="TCD14", reached=70),
            line("wash", admin1="TCD14", reached=90),
            country="TCD",
        ),
    )
    c, c_tag = submit(
        field,
        sitrep(
            line(
                "shelter",
                admin1="SD01",
                admin2="SD01001",
                reached=100,
                disaggregation=DISAGGREGATED,
                persons_with_disabilities=7,
                people_targeted=150,
                indicators={"households_assisted": 20, "shelter_kits": 15},
            ),
            line("cccm", admin1="SD03", reached=900, indicators={"sites_managed": 3}),
            start="2024-04-01",
            end="2024-04-30",
        ),
    )
    d, d_tag = submit(field, sitrep(line("shelter", admin1="SD04", reached=10)))
    withdraw(field, d["id"], d_tag)
    check(round_="first pull")
    assert consumers[0].held and all(ln["sector"] == "shelter" for ln in consumers[0].held.values())

    # Round 1: figures changed, a line dropped, a line added; a sitrep withdrawn; a new one
    # takes the withdrawn sitrep's slot.
    a, a_tag = amend(
        field,
        a["id"],
        a_tag,
        sitrep(
            line("shelter", admin1="SD01", reached=650, new=250),
            line("wash", admin1="SD01", reached=800),
            line("shelter", admin1="SD05", reached=40, phase="recovery", division="prd"),
            line(
                "cash", admin1="SD01", reached=60, indicators={"cash_usd": "1300", "transfers": 2}
            ),
        ),
    )
    withdraw(field, b["id"], b_tag)
    e, e_tag = submit(
        field,
        sitrep(
            line("shelter", admin1="TCD14", reached=75), line("wash", admin1="TCD14"), country="TCD"
        ),
    )
    check(round_="round 1")

    # Round 2: crisis and period changed; a dropped line comes back; a line changes sector.
    crisis_id = register_crisis(hq, ["SDN"])
    c, c_tag = amend(
        field,
        c["id"],
        c_tag,
        sitrep(
            line(
                "shelter",
                admin1="SD01",
                admin2="SD01001",
                reached=100,
                disaggregation=DISAGGREGATED,
                persons_with_disabilities=7,
                people_targeted=150,
                indicators={"households_assisted": 20, "shelter_kits": 15},
            ),
            line("shelter", admin1="SD03", reached=900),  # was cccm: moves cluster
            start="2024-04-01",
            end="2024-05-15",
            crisis_id=crisis_id,
        ),
    )
    a, a_tag = amend(
        field,
        a["id"],
        a_tag,
        sitrep(
            line("shelter", admin1="SD01", reached=650, new=250),
            line("shelter", admin1="SD02", reached=310),  # dropped in round 1, back now
            line("wash", admin1="SD01", reached=820),
        ),
    )
    f, _ = submit(
        field,
        sitrep(
            line("health", admin1="SD06"),
            line("cccm", admin1="SD06", reached=1000),
            line("shelter", admin1="SD06", phase="preparedness", division="pcca", reached=5),
            start="2024-06-01",
            end="2024-06-30",
        ),
    )
    check(round_="round 2")

    # Nothing changed: every consumer gets nothing, and keeps its position.
    for consumer in consumers:
        before = consumer.cursor
        assert consumer.sync() == []
        assert consumer.cursor == before

    # Round 3: a sitrep withdrawn after amendments, another amended, one more submitted.
    withdraw(field, a["id"], a_tag)
    e, e_tag = amend(
        field,
        e["id"],
        e_tag,
        sitrep(line("shelter", admin1="TCD14", reached=80), country="TCD", end="2024-03-20"),
    )
    g, _ = submit(
        field,
        sitrep(line("shelter", admin1="SD01", reached=12), start="2024-07-01", end="2024-07-31"),
    )
    check(round_="round 3")

    # Consumers starting from scratch now hold the same as those that followed along.
    for old in consumers:
        fresh = Consumer(old.reader, old.code, limit=old.limit, countries=old.countries)
        fresh.sync()
        assert fresh.held == old.held
    shelter = consumers[0].held.values()
    assert {ln["sitrep_id"] for ln in shelter} == {c["id"], e["id"], f["id"], g["id"]}
    assert {ln["crisis_id"] for ln in shelter if ln["sitrep_id"] == c["id"]} == {crisis_id}
    assert len(shelter) == 5


def test_consumer_with_writes_between_its_pages(api) -> None:
    """Writes that land while a consumer is paging (to lines it already has and lines it
    has not reached yet) are all picked up by the end of its sync."""
    field = api("field", countries=["SDN"])
    hq = api("hq")
    a, a_tag = submit(field, sitrep(*(line("shelter", admin1=f"SD0{i}") for i in range(1, 5))))
    b, b_tag = submit(field, sitrep(line("shelter", admin1="SD05"), line("shelter", admin1="SD06")))
    consumer = Consumer(api("coordinator", clusters=["shelter"]), "shelter", limit=2)
    tags = {"a": a_tag}

    def write(n: int) -> None:
        if n == 0:  # SD01, SD02 delivered: amend one of them, drop one not yet delivered
            _, tags["a"] = amend(
                field,
                a["id"],
                tags["a"],
                sitrep(
                    line("shelter", admin1="SD01", reached=111),
                    line("shelter", admin1="SD02"),
                    line("shelter", admin1="SD04", reached=444),
                ),
            )
        elif n == 1:
            withdraw(field, b["id"], b_tag)
            submit(field, sitrep(line("shelter", admin1="SD07", reached=7)))

    consumer.sync(between_pages=write)
    assert consumer.held == live_lines(hq, "shelter")
    assert {ln["admin1"]: ln["people_reached"] for ln in consumer.held.values()} == {
        "SD01": 111,
        "SD02": 100,
        "SD04": 444,
        "SD07": 7,
    }
    assert consumer.sync() == []


def test_amendment_and_withdrawal_items(api) -> None:
    """What a since-pull returns after an amendment and a withdrawal, item by item."""
    field = api("field", countries=["SDN"])
    coord = api("coordinator", clusters=["shelter"])
    s, tag = submit(
        field,
        sitrep(
            line("shelter", admin1="SD01", reached=100),
            line("shelter", admin1="SD02", reached=200),
            line("wash", admin1="SD01", reached=300),
        ),
    )
    sd01, sd02 = (ln["id"] for ln in s["lines"][:2])
    first = get_feed(coord, "shelter")
    assert [(i["line_id"], i["revision"], i["status"]) for i in first["items"]] == [
        (sd01, 1, "submitted"),
        (sd02, 1, "submitted"),
    ]
    item = first["items"][0]
    assert item["sitrep_id"] == s["id"] and item["country"] == "SDN"
    assert item["people_reached"] == 100 and item["people_reached_new"] == 100
    assert item["period_start"] == "2024-03-01" and item["period_end"] == "2024-03-31"
    assert item["crisis_id"] is None and item["disaggregation"] is None
    assert item["indicators"] == {}

    s, tag = amend(
        field,
        s["id"],
        tag,
        sitrep(
            line(
                "shelter",
                admin1="SD01",
                reached=150,
                new=120,
                disaggregation=DISAGGREGATED | {"boys": 60},
            ),
            line("shelter", admin1="SD03", reached=40),
            line("wash", admin1="SD01", reached=300),
            end="2024-03-30",
        ),
    )
    assert s["lines"][0]["id"] == sd01  # same slot, same line id
    sd03 = s["lines"][1]["id"]
    changed = get_feed(coord, "shelter", since=first["next_cursor"])
    by_id = {i["line_id"]: i for i in changed["items"]}
    assert set(by_id) == {sd01, sd02, sd03}
    assert len(changed["items"]) == 3
    assert by_id[sd01]["status"] == "submitted" and by_id[sd01]["revision"] == 2
    assert by_id[sd01]["people_reached"] == 150 and by_id[sd01]["people_reached_new"] == 120
    assert by_id[sd01]["disaggregation"] == {"women": 40, "men": 30, "girls": 20, "boys": 60}
    assert by_id[sd01]["period_end"] == "2024-03-30"
    assert by_id[sd01]["updated_at"] >= first["items"][0]["updated_at"]
    assert by_id[sd02]["status"] == "withdrawn" and by_id[sd02]["revision"] == 2
    assert by_id[sd03]["status"] == "submitted" and by_id[sd03]["admin1"] == "SD03"
    assert changed["next_cursor"] != first["next_cursor"]

    withdraw(field, s["id"], tag)
    gone = get_feed(coord, "shelter", since=changed["next_cursor"])
    assert sorted((i["line_id"], i["status"]) for i in gone["items"]) == sorted(
        [(sd01, "withdrawn"), (sd03, "withdrawn")]
    )  # sd02 was already withdrawn: it does not come again
    # No live shelter line is left: a first pull is empty, and its cursor is never null.
    assert get_feed(coord, "shelter")["items"] == []


def test_idle_poll_after_first_pull_returns_nothing(api) -> None:
    """A consumer that has just caught up gets nothing on its next poll if nothing changed,
    even when the feed's latest changes were withdrawals (which a first pull leaves out)."""
    field = api("field", countries=["SDN"])
    coord = api("coordinator", clusters=["shelter"])
    submit(field, sitrep(line("shelter", admin1="SD01")))
    s, tag = submit(field, sitrep(line("shelter", admin1="SD02")))
    withdraw(field, s["id"], tag)

    first = get_feed(coord, "shelter", limit=10)
    assert len(first["items"]) == 1  # caught up: the one live line
    again = get_feed(coord, "shelter", limit=10, since=first["next_cursor"])
    assert again["items"] == [], "nothing changed since the consumer caught up"
    assert again["next_cursor"] == first["next_cursor"]


def test_idle_poll_on_empty_feed_after_withdrawals_returns_nothing(api) -> None:
    field = api("field", countries=["SDN"])
    coord = api("coordinator", clusters=["shelter"])
    s, tag = submit(field, sitrep(line("shelter", admin1="SD01"), line("shelter", admin1="SD02")))
    withdraw(field, s["id"], tag)
    first = get_feed(coord, "shelter")
    assert first["items"] == []
    again = get_feed(coord, "shelter", since=first["next_cursor"])
    assert again["items"] == [], "nothing changed since the consumer's first pull"


# --- paging ----------------------------------------------------------------------------


def test_paging_returns_each_line_once_in_order(api) -> None:
    field = api("field", countries=["SDN", "TCD"])
    coord = api("coordinator", clusters=["shelter"])
    one, _ = submit(
        field,
        sitrep(
            line("shelter", admin1="SD01"),
            line("wash", admin1="SD01"),
            line("shelter", admin1="SD02"),
            line("shelter", admin1="SD03"),
        ),
    )
    two, _ = submit(
        field,
        sitrep(line("shelter", admin1="TCD14"), line("shelter", admin1="TCD01"), country="TCD"),
    )
    expected = [ln["id"] for s in (one, two) for ln in s["lines"] if ln["sector"] == "shelter"]
    assert len(expected) == 5

    seen: list[int] = []
    cursors: list[str] = []
    pages: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        resp = coord.get(feed_url("shelter"), params=params)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["next_cursor"]
        link = next_link(resp)
        assert link.startswith(feed_url("shelter") + "?")
        assert f"since={body['next_cursor']}" in link and "limit=2" in link
        seen += [i["line_id"] for i in body["items"]]
        pages.append(len(body["items"]))
        cursors.append(body["next_cursor"])
        params["since"] = body["next_cursor"]
        if len(body["items"]) < 2:
            break
    assert seen == expected
    assert pages == [2, 2, 1]
    assert len(set(cursors)) == 3

    # Following the Link header when caught up returns nothing, at the same position.
    resp = coord.get(link)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"items": [], "next_cursor": cursors[-1]}
    assert next_link(resp) == link


def test_paging_exact_multiple_ends_with_an_empty_page(api) -> None:
    field = api("field", countries=["SDN"])
    hq = api("hq")
    submit(field, sitrep(*(line("shelter", admin1=f"SD0{i}") for i in range(1, 5))))
    page1 = get_feed(hq, "shelter", limit=2)
    page2 = get_feed(hq, "shelter", limit=2, since=page1["next_cursor"])
    page3 = get_feed(hq, "shelter", limit=2, since=page2["next_cursor"])
    assert [len(p["items"]) for p in (page1, page2, page3)] == [2, 2, 0]
    assert page3["next_cursor"] == page2["next_cursor"]
    ids = [i["line_id"] for p in (page1, page2) for i in p["items"]]
    assert len(set(ids)) == 4 and ids == sorted(ids)


def test_empty_feed_has_a_cursor(api) -> None:
    coord = api("coordinator", clusters=["health"])
    resp = coord.get(feed_url("health"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["items"] == [] and isinstance(body["next_cursor"], str) and body["next_cursor"]
    assert f"since={body['next_cursor']}" in next_link(resp)
    again = get_feed(coord, "health", since=body["next_cursor"])
    assert again == {"items": [], "next_cursor": body["next_cursor"]}

    # Something arrives later: the saved cursor picks it up.
    field = api("field", countries=["SDN"])
    s, _ = submit(field, sitrep(line("health", admin1="SD01", reached=33)))
    later = get_feed(coord, "health", since=body["next_cursor"])
    assert [(i["line_id"], i["people_reached"]) for i in later["items"]] == [
        (s["lines"][0]["id"], 33)
    ]


# --- cluster and country filtering -----------------------------------------------------


def test_feed_has_only_the_clusters_sectors(api) -> None:
    field = api("field", countries=["SDN"])
    hq = api("hq")
    s, tag = submit(
        field,
        sitrep(
            line("shelter", admin1="SD01"),
            line("wash", admin1="SD01"),
            line("cccm", admin1="SD01"),
            line("cash", admin1="SD01"),
            line("health", admin1="SD01"),
        ),
    )
    ids = {ln["sector"]: ln["id"] for ln in s["lines"]}
    cursors = {}
    for code, (sector,) in CLUSTER_SECTORS.items():
        body = get_feed(hq, code)
        assert [i["line_id"] for i in body["items"]] == [ids[sector]]
        cursors[code] = body["next_cursor"]
    # Changes to a wash line never show in the shelter feed, and vice versa.
    s, tag = amend(
        field,
        s["id"],
        tag,
        sitrep(line("shelter", admin1="SD01"), line("wash", admin1="SD01", reached=5)),
    )
    withdraw(field, s["id"], tag)
    for code, (sector,) in CLUSTER_SECTORS.items():
        items = get_feed(hq, code, since=cursors[code])["items"]
        assert {i["line_id"] for i in items} == {ids[sector]}
        assert {i["status"] for i in items} == {"withdrawn"}


def test_country_filter(api) -> None:
    field = api("field", countries=["SDN", "TCD"])
    hq = api("hq")
    sdn, _ = submit(field, sitrep(line("shelter", admin1="SD01")))
    tcd, _ = submit(field, sitrep(line("shelter", admin1="TCD14"), country="TCD"))
    sdn_id, tcd_id = sdn["lines"][0]["id"], tcd["lines"][0]["id"]

    assert [i["line_id"] for i in get_feed(hq, "shelter", country="TCD")["items"]] == [tcd_id]
    assert [i["line_id"] for i in get_feed(hq, "shelter", country="sdn")["items"]] == [sdn_id]
    both = get_feed(hq, "shelter", country="SDN,TCD")["items"]
    assert [i["line_id"] for i in both] == [sdn_id, tcd_id]
    assert get_feed(hq, "shelter", country="UGA")["items"] == []

    resp = hq.get(feed_url("shelter"), params={"country": "TCD", "limit": 5})
    link = next_link(resp)
    assert "country=TCD" in link and "limit=5" in link
    assert_problem(hq.get(feed_url("shelter"), params={"country": "XXX"}), 422)


def test_coordinator_limited_to_countries(api) -> None:
    field = api("field", countries=["SDN", "TCD"])
    sdn, _ = submit(field, sitrep(line("shelter", admin1="SD01")))
    tcd, _ = submit(field, sitrep(line("shelter", admin1="TCD14"), country="TCD"))
    tcd_id = tcd["lines"][0]["id"]
    coord = api("coordinator", clusters=["shelter"], countries=["TCD"])

    first = get_feed(coord, "shelter")
    assert [i["line_id"] for i in first["items"]] == [tcd_id]
    assert [i["line_id"] for i in get_feed(coord, "shelter", country="TCD")["items"]] == [tcd_id]
    assert_problem(coord.get(feed_url("shelter"), params={"country": "SDN"}), 403)
    assert_problem(coord.get(feed_url("shelter"), params={"country": "SDN,TCD"}), 403)

    # Changes in other countries never reach it through since either.
    sdn_tag = field.get(f"{SITREPS}/{sdn['id']}").headers["ETag"]
    withdraw(field, sdn["id"], sdn_tag)
    assert get_feed(coord, "shelter", since=first["next_cursor"])["items"] == []
    # A coordinator without countries sees them all.
    everyone = api("coordinator", clusters=["shelter"])
    assert len(get_feed(everyone, "shelter")["items"]) == 2 - 1  # the SDN sitrep is withdrawn


# --- permissions -----------------------------------------------------------------------


def test_feed_permissions(api, client) -> None:
    field = api("field", countries=["SDN"])
    submit(field, sitrep(line("shelter", admin1="SD01"), line("wash", admin1="SD01")))

    for reader in (
        api("hq"),
        api("admin"),
        api("coordinator", clusters=["shelter"]),
        api("coordinator", clusters=["wash", "shelter"]),
        api("coordinator", clusters=["shelter"], countries=["SDN"]),
    ):
        assert len(get_feed(reader, "shelter")["items"]) == 1

    assert_problem(field.get(feed_url("shelter")), 403)
    other = api("coordinator", clusters=["wash"])
    assert_problem(other.get(feed_url("shelter")), 403)
    assert len(get_feed(other, "wash")["items"]) == 1
    assert_problem(client.get(feed_url("shelter")), 401)
    assert_problem(client.get(CLUSTERS), 401)
    assert_problem(api("hq").get(feed_url("protection")), 404)
    assert_problem(other.get(feed_url("nope")), 404)


# --- HXL -------------------------------------------------------------------------------


def test_hxl_feed_reads_back_with_libhxl(api) -> None:
    field = api("field", countries=["SDN", "TCD"])
    coord = api("coordinator", clusters=["shelter"])
    submit(
        field,
        sitrep(
            full_line(),
            line("wash", admin1="SD01", reached=999),
            line("shelter", admin1="SD02", reached=250, indicators={"shelter_kits": 30}),
        ),
    )
    submit(field, sitrep(line("shelter", admin1="TCD14", reached=7), country="TCD"))

    json_feed = get_feed(coord, "shelter")
    items = json_feed["items"]
    assert len(items) == 3
    resp = coord.get(feed_url("shelter"), params={"format": "hxl"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    rows = resp.json()
    assert isinstance(rows, list) and len(rows) == 2 + len(items)
    assert all(len(row) == len(rows[0]) for row in rows)
    assert all(tag.startswith("#") for tag in rows[1])
    link = next_link(resp)
    assert f"since={json_feed['next_cursor']}" in link and "format=hxl" in link

    ds = hxl.data(rows).cache()
    tags = [column.display_tag for column in ds.columns]
    for tag in DOMAIN_HXL_TAGS:
        assert tag in tags, tag
    assert "#indicator+households_assisted" in tags and "#indicator+shelter_kits" in tags
    assert ds.headers == rows[0]
    assert "people_reached" in ds.headers and "line_id" in ds.headers

    def column(tag: str) -> list[Any]:
        return [row.get(tag) for row in ds]

    assert column("#meta+id") == [i["line_id"] for i in items]
    assert column("#reached") == [i["people_reached"] for i in items]
    assert column("#reached+new") == [i["people_reached_new"] for i in items]
    assert column("#targeted") == [i["people_targeted"] for i in items]
    assert column("#country+code") == [i["country"] for i in items] == ["SDN", "SDN", "TCD"]
    assert column("#adm1+code") == [i["admin1"] for i in items]
    assert column("#adm2+code") == ["SD01002", None, None]
    assert column("#sector+code") == ["shelter"] * 3
    assert column("#meta+division") == [i["division"] for i in items]
    assert column("#meta+phase") == [i["phase"] for i in items]
    assert column("#crisis+id") == [None] * 3
    assert column("#date+start") == [i["period_start"] for i in items]
    assert column("#date+end") == [i["period_end"] for i in items]
    assert column("#reached+f+adults") == [40, None, None]
    assert column("#reached+m+adults") == [30, None, None]
    assert column("#reached+f+children") == [20, None, None]
    assert column("#reached+m+children") == [10, None, None]
    assert column("#indicator+households_assisted") == [25, None, None]
    assert column("#indicator+shelter_kits") == [None, 30, None]
    assert 999 not in column("#reached")  # the wash line is not in the shelter feed


def test_hxl_feed_since_and_indicators_of_other_clusters(api) -> None:
    field = api("field", countries=["SDN"])
    coord = api("coordinator", clusters=["cwg"])
    empty = coord.get(feed_url("cwg"), params={"format": "hxl"})
    assert empty.status_code == 200, empty.text
    header = empty.json()
    assert len(header) == 2  # column names and hashtags only
    assert "#indicator+cash_usd" in header[1] and "#indicator+transfers" in header[1]
    assert "#indicator+households_assisted" not in header[1]

    s, tag = submit(
        field,
        sitrep(
            line("cash", admin1="SD01", reached=80, indicators={"transfers": 3, "cash_usd": "99.5"})
        ),
    )
    amend(field, s["id"], tag, sitrep(line("cash", admin1="SD02", reached=81)))
    since = coord.get(next_link(empty))  # follow the Link header of the empty HXL page
    assert since.status_code == 200, since.text
    rows = since.json()
    ds = hxl.data(rows).cache()
    json_items = get_feed(coord, "cwg", since=re.search(r"since=([^&]+)", next_link(empty))[1])[
        "items"
    ]
    assert [row.get("#meta+id") for row in ds] == [i["line_id"] for i in json_items]
    assert [row.get("#status") for row in ds] == ["submitted", "withdrawn"]
    assert [row.get("#adm1+code") for row in ds] == ["SD02", "SD01"]
    assert [row.get("#reached") for row in ds] == [81, 80]
    assert [row.get("#indicator+transfers") for row in ds] == [None, 3]
    assert [row.get("#indicator+cash_usd") for row in ds] == [
        i["indicators"].get("cash_usd") for i in json_items
    ]


def test_cash_usd_has_one_json_type(api) -> None:
    """A decimal indicator comes out the same way whatever its value: a whole amount must
    not turn into a JSON number while 12.50 stays a string."""
    field = api("field", countries=["SDN"])
    hq = api("hq")
    submit(
        field,
        sitrep(
            line("cash", admin1="SD01", indicators={"cash_usd": "1250.50"}),
            line("cash", admin1="SD02", indicators={"cash_usd": "1300"}),
        ),
    )
    values = [i["indicators"]["cash_usd"] for i in get_feed(hq, "cwg")["items"]]
    assert [Decimal(str(v)) for v in values] == [Decimal("1250.50"), Decimal("1300")]
    assert len({type(v) for v in values}) == 1, values


# --- errors ----------------------------------------------------------------------------


def test_malformed_and_foreign_cursors(api) -> None:
    field = api("field", countries=["SDN"])
    hq = api("hq")
    submit(field, sitrep(line("shelter", admin1="SD01"), start="2024-01-01", end="2024-01-31"))
    submit(field, sitrep(line("shelter", admin1="SD02"), start="2024-02-01", end="2024-02-29"))
    sitreps_cursor = hq.get(SITREPS, params={"limit": 1}).json()["next_cursor"]
    assert sitreps_cursor

    for bad in (
        "not-a-cursor",
        "%%%",
        sitreps_cursor,  # handed out by another endpoint
        encode_cursor("feed", []),
        encode_cursor("feed", [1, 2, 3]),
        encode_cursor("feed", [1, -2]),
        encode_cursor("feed", [2**63, 1]),
        encode_cursor("feed", ["1"]),
        encode_cursor("feed", [True]),
        encode_cursor("feed", [1.5]),
        encode_cursor("feed", [-1]),
        encode_cursor("revisions", [1]),
    ):
        body = assert_problem(hq.get(feed_url("shelter"), params={"since": bad}), 400)
        assert "cursor" in body["detail"], bad
    # An empty since= is no cursor: a first pull.
    first = hq.get(feed_url("shelter"), params={"since": ""})
    assert first.json() == hq.get(feed_url("shelter")).json()


def test_out_of_range_cursor_is_a_400_not_a_500(api) -> None:
    hq = api("hq")
    for bad in (encode_cursor("feed", [2**63]), encode_cursor("feed", [10**30])):
        resp = hq.get(feed_url("shelter"), params={"since": bad})
        assert resp.status_code == 400, resp.text


def test_limits(api) -> None:
    hq = api("hq")
    for bad in (0, -1, 1001, "x"):
        assert_problem(hq.get(feed_url("shelter"), params={"limit": bad}), 422)
    assert get_feed(hq, "shelter", limit=1000)["items"] == []
    assert get_feed(hq, "shelter", limit=1)["items"] == []
    assert_problem(hq.get(feed_url("shelter"), params={"format": "csv"}), 422)


def test_a_poll_with_nothing_new_is_a_304(api) -> None:
    """Coordinators poll every few minutes and most polls find nothing: the page's ETag in
    If-None-Match (weakly compared, as a compressing proxy leaves it) gets a 304 with no
    body while nothing changed, and the new page as soon as something did."""
    field = api("field", countries=["SDN"])
    coordinator = api("coordinator", clusters=["shelter"])
    submit(field, sitrep(line("shelter", admin1="SD01", reached=40)))
    first = coordinator.get(feed_url("shelter"))
    assert first.status_code == 200 and len(first.json()["items"]) == 1
    cursor = first.json()["next_cursor"]
    poll = coordinator.get(feed_url("shelter"), params={"since": cursor})
    assert poll.status_code == 200 and poll.json() == {"items": [], "next_cursor": cursor}
    etag = poll.headers["ETag"]
    for offered in (etag, f"W/{etag}", f'"other", {etag}'):
        again = coordinator.get(
            feed_url("shelter"), params={"since": cursor}, headers={"If-None-Match": offered}
        )
        assert again.status_code == 304, offered
        assert again.content == b"" and again.headers["ETag"] == etag
    # A page's ETag is its own: another one does not match.
    stale = coordinator.get(
        feed_url("shelter"), params={"since": cursor}, headers={"If-None-Match": '"old"'}
    )
    assert stale.status_code == 200 and stale.json()["items"] == []
    submit(field, sitrep(line("shelter", admin1="SD02", reached=7)))
    changed = coordinator.get(
        feed_url("shelter"), params={"since": cursor}, headers={"If-None-Match": etag}
    )
    assert changed.status_code == 200
    assert [item["people_reached"] for item in changed.json()["items"]] == [7]
    assert changed.headers["ETag"] != etag
