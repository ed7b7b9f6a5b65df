"""bench/generate.py writes exactly what the service would have written.

A small data set is generated straight into the test database, then:
- replayed through the service (the same submissions, amendments and withdrawals, in the
  same order, into the emptied tables) it leaves the very same rows;
- the tables are consistent (revisions, line states, feed order, timestamps) and the data
  set has the shape the benchmark needs;
- the API reads it: sitreps and their revisions, totals equal to a from-scratch recount
  by DOMAIN.md's rules, feeds that hand out every live line exactly once;
- no two live sitreps report one slot for overlapping periods, and the service agrees;
- the service goes on writing after it: amendments with the ETag, withdrawals, new sitreps.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import text

from app.auth import service as auth
from app.auth.models import Role
from app.crises import service as crises
from app.crises.schemas import CrisisCreate
from app.db import Base, get_engine, new_session
from app.pagination import encode_cursor
from app.sitreps import service as sitreps
from app.sitreps.schemas import SitrepCreate
from tests.factories import Api


def _load_generator() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "generate.py"
    spec = importlib.util.spec_from_file_location("bench_generate", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_generate"] = module
    spec.loader.exec_module(module)
    return module


generate = _load_generator()

NOW = generate.day_us(date(2026, 6, 1))
CONFIG = generate.Config(
    lines=3000,
    seed=4,
    countries=10,
    years=2,
    end=date(2025, 12, 31),
    amend_rate=0.12,
    withdraw_rate=0.05,
    chunk_lines=700,
    per_sitrep=5,
)
API = "/api/v1"
CLUSTER_SECTORS = {
    "cccm": "cccm",
    "shelter": "shelter",
    "wash": "wash",
    "health": "health",
    "cwg": "cash",
}
FIGURES = (
    "people_reached",
    "people_reached_unique",
    "people_reached_in_periods",
    "people_targeted",
    "people_targeted_unique",
    "lines",
)
GROUPS = ("sector", "division", "phase", "crisis", "admin1")
TIMESTAMPS = {"created_at", "submitted_at", "updated_at", "withdrawn_at", "occurred_at"}


def _generated(url: str, config: Any = CONFIG, *, after: bool = False) -> Any:
    return generate.load(url, config, progress=False, after=after, now=NOW)


@pytest.fixture
def dataset(migrated: str) -> Any:
    return _generated(migrated)


def _postgres() -> bool:
    return get_engine().dialect.name == "postgresql"


def _rows(table: str, order: str = "id") -> list[dict[str, Any]]:
    with get_engine().connect() as connection:
        result = connection.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))
        return [dict(row) for row in result.mappings()]


def _feed_counter() -> int:
    """The last feed number handed out: the counter row on SQLite, the sequence on
    PostgreSQL (app.sitreps.order)."""
    engine = get_engine()
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            return int(connection.execute(text("SELECT last_value FROM feed_seq")).scalar_one())
        return int(
            connection.execute(text("SELECT value FROM counters WHERE name = 'feed'")).scalar_one()
        )


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _all_sitreps(api: Api) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = f"?limit=1000&cursor={cursor}" if cursor else "?limit=1000"
        page = api.get(f"{API}/sitreps{query}").json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


# --- the same rows as the service ------------------------------------------------------


def _snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row the generator writes, timestamps aside (the service stamps its own clock)
    and the writing transaction's id (the generator's rows have 0: written before any
    service transaction);
    JSON documents compared as text on SQLite (the bytes the service stores) and as values
    on PostgreSQL (JSONB)."""
    snapshot: dict[str, list[dict[str, Any]]] = {}
    for table, order in (
        ("users", "id"),
        ("user_countries", "user_id, country"),
        ("crises", "id"),
        ("crisis_countries", "crisis_id, country"),
        ("sitreps", "id"),
        ("sitrep_revisions", "id"),
        ("sitrep_lines", "id"),
        ("counters", "name"),
    ):
        snapshot[table] = [
            {k: v for k, v in row.items() if k not in TIMESTAMPS and k != "feed_xid"}
            for row in _rows(table, order)
        ]
    return snapshot


def _empty_and_rewind(plan: Any) -> None:
    """The tables as they were before the generator ran: emptied, the feed counter and
    (on PostgreSQL) the id and feed sequences back where the generator found them."""
    starts = plan.starts
    with get_engine().begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name == "counters":
                if not _postgres():  # PostgreSQL numbers from its feed_seq sequence
                    connection.execute(table.update().values(value=starts.feed))
            else:
                connection.execute(table.delete())
        if _postgres():
            for table, start in zip(
                generate.SEQUENCED,
                (starts.user, starts.crisis, starts.sitrep, starts.revision, starts.line),
                strict=True,
            ):
                connection.execute(
                    text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :v, false)"),
                    {"t": table, "v": start},
                )
            connection.execute(
                text("SELECT setval('feed_seq', :v, :called)"),
                {"v": max(starts.feed, 1), "called": starts.feed > 0},
            )


def _replay(plan: Any) -> None:
    """Everything the generator wrote, done again through the services, in its order."""
    with new_session(writes=True) as session:
        for user in plan.users:
            created = auth.create_user(
                session, name=user.name, role=Role(user.role), countries=user.countries
            )
            assert created.id == user.id
        hq = auth.get_user_by_name(session, name=plan.users[0].name)
        for crisis in plan.crises:
            registered = CrisisCreate(
                name=crisis.name,
                kind=crisis.kind,
                countries=list(crisis.countries),
                started_on=crisis.started_on,
                glide=crisis.glide,
                scale_up=crisis.scale_up,
            )
            assert crises.create(session, data=registered, user=hq).id == crisis.id
        session.commit()
    # One transaction for speed: each write flushes, so ids and feed numbers are handed out
    # write by write exactly as with one transaction per request.
    with new_session(writes=True) as session:
        users = {u.id: auth.get_user_by_name(session, name=u.name) for u in plan.users}
        for write in generate.Simulation(plan, NOW).writes():
            user = users[write.sitrep.user_id]
            if write.kind == "submit":
                data = SitrepCreate.model_validate(write.body())
                sitrep = sitreps.submit(session, data=data, user=user)
                assert sitrep.id == write.sitrep.id
            elif write.kind == "amend":
                data = SitrepCreate.model_validate(write.body())
                sitreps.amend(
                    session, sitrep_id=write.sitrep.id, data=data, if_match="*", user=user
                )
            else:
                sitreps.withdraw(
                    session, sitrep_id=write.sitrep.id, reason=write.reason, if_match="*", user=user
                )
        session.commit()


def test_the_rows_are_those_the_service_writes_for_the_same_writes(migrated: str) -> None:
    config = replace(
        CONFIG, lines=800, countries=6, amend_rate=0.3, withdraw_rate=0.12, per_sitrep=4
    )
    report = _generated(migrated, config)
    assert report.counts.lines == 800
    assert report.counts.amended and report.counts.withdrawn
    generated = _snapshot()
    stamped = _timestamps()
    lines = generated["sitrep_lines"]
    # The writes include amendments that dropped a line and ones that added one.
    assert any(r["status"] == "withdrawn" and r["revision"] > 1 for r in lines)
    first_revision = {
        r["sitrep_id"]: r for r in generated["sitrep_revisions"] if r["revision"] == 1
    }
    assert any(
        r["id"] not in {d["id"] for d in _json(first_revision[r["sitrep_id"]]["lines"])}
        for r in lines
    )

    _empty_and_rewind(report.plan)
    _replay(report.plan)

    replayed = _snapshot()
    for table, rows in generated.items():
        assert len(replayed[table]) == len(rows), table
        for mine, theirs in zip(rows, replayed[table], strict=True):
            assert mine == theirs, table
    # Timestamps are stored as the service stores them: on SQLite, its text to the character.
    for values in (stamped, _timestamps()):
        assert values
        for value in values:
            if _postgres():
                assert value.tzinfo is not None
            else:
                assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", value), value


def _timestamps() -> list[Any]:
    return [
        value
        for table in ("users", "crises", "sitreps", "sitrep_revisions", "sitrep_lines")
        for row in _rows(table)
        for name, value in row.items()
        if name in TIMESTAMPS and value is not None
    ]


# --- consistent tables, and the shape of the data set ----------------------------------


def _schema() -> list[tuple[str, str]]:
    """The definition of every table and index, as the database reports it."""
    if _postgres():
        query = (
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "UNION ALL SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "ORDER BY 1"
        )
    else:
        query = "SELECT name, coalesce(sql, '') FROM sqlite_master ORDER BY name"
    with get_engine().connect() as connection:
        return [(str(a), str(b)) for a, b in connection.exec_driver_sql(query).all()]


def _orphans() -> list[str]:
    """Foreign keys pointing nowhere (the loader does not have the database check them)."""
    found = []
    with get_engine().connect() as connection:
        for table in Base.metadata.sorted_tables:
            for fk in table.foreign_keys:
                parent, child = fk.column, fk.parent
                n = connection.execute(
                    text(
                        f"SELECT count(*) FROM {table.name} c LEFT JOIN {parent.table.name} p "
                        f"ON c.{child.name} = p.{parent.name} "
                        f"WHERE c.{child.name} IS NOT NULL AND p.{parent.name} IS NULL"
                    )
                ).scalar_one()
                if n:
                    found.append(f"{table.name}.{child.name}: {n}")
    return found


def test_the_tables_are_consistent_and_the_data_set_has_its_shape(migrated: str) -> None:
    schema = _schema()
    dataset = _generated(migrated, after=True)  # with VACUUM ANALYZE on PostgreSQL
    # Indexes dropped for the load are back, exactly as the migrations made them.
    assert _schema() == schema
    assert not _orphans()
    counts = dataset.counts
    sitrep_rows = {r["id"]: r for r in _rows("sitreps")}
    revisions = _rows("sitrep_revisions")
    lines = _rows("sitrep_lines")
    assert len(lines) == counts.lines == CONFIG.lines
    assert len(sitrep_rows) == counts.sitreps and len(revisions) == counts.revisions
    assert _feed_counter() == dataset.feed == max(r["feed_seq"] for r in lines)
    assert len({r["feed_seq"] for r in lines}) == len(lines)

    by_sitrep: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for revision in revisions:
        by_sitrep[revision["sitrep_id"]].append(revision)
    submitted_at = {(r["sitrep_id"], r["revision"]): r["submitted_at"] for r in revisions}
    lines_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        lines_of[line["sitrep_id"]].append(line)
    for sitrep_id, sitrep in sitrep_rows.items():
        revs = sorted(by_sitrep[sitrep_id], key=lambda r: r["revision"])
        assert [r["revision"] for r in revs] == list(range(1, sitrep["revision"] + 1))
        assert sitrep["created_at"] <= revs[0]["submitted_at"]
        latest = _json(revs[-1]["lines"])
        live = sorted(
            (ln for ln in lines_of[sitrep_id] if ln["status"] == "submitted"),
            key=lambda ln: ln["id"],
        )
        if sitrep["status"] == "withdrawn":
            assert not live and sitrep["withdrawn_at"] and sitrep["withdrawal_reason"]
        else:
            # The live lines are the latest revision's, figure for figure.
            assert sorted(d["id"] for d in latest) == [ln["id"] for ln in live]
            by_id = {ln["id"]: ln for ln in live}
            for document in latest:
                row = by_id[document["id"]]
                for name in ("sector", "division", "phase", "admin1", "admin2"):
                    assert row[name] == document[name]
                assert row["people_reached_new"] == document["people_reached_new"]
                assert row["revision"] == sitrep["revision"]
        for line in lines_of[sitrep_id]:
            assert line["revision"] <= sitrep["revision"]
            assert line["updated_at"] in (
                submitted_at[(sitrep_id, line["revision"])],
                sitrep["withdrawn_at"],
            )
    for line in lines:
        parts = [line[k] or "" for k in ("sector", "division", "phase", "admin1", "admin2")]
        assert line["line_key"] == "|".join(parts)
        sitrep = sitrep_rows[line["sitrep_id"]]
        for name in ("country", "crisis_id", "period_start", "period_end"):
            assert line[name] == sitrep[name]
        assert line["year"] == date.fromisoformat(str(line["period_end"])).year
        assert 0 <= line["people_reached_new"] <= line["people_reached"]
        if line["women"] is not None:
            parts_sum = line["women"] + line["men"] + line["girls"] + line["boys"]
            assert parts_sum == line["people_reached"]
        assert (line["persons_with_disabilities"] or 0) <= line["people_reached"]
    # Writes in order: a later feed number never carries an earlier time.
    stamps = [ln["updated_at"] for ln in sorted(lines, key=lambda ln: ln["feed_seq"])]
    assert stamps == sorted(stamps)
    assert [s["created_at"] for s in sitrep_rows.values()] == sorted(
        s["created_at"] for s in sitrep_rows.values()
    )

    # The shape: every sector, division and phase; weekly and monthly; admin1, admin2 and
    # country-wide lines; countries without p-codes only country-wide; amended, withdrawn.
    assert {ln["sector"] for ln in lines} == {"shelter", "wash", "cccm", "cash", "health"}
    assert {ln["division"] for ln in lines} == {"pcca", "prd", "hod"}
    assert {ln["phase"] for ln in lines} == {"preparedness", "response", "recovery"}
    lengths = {
        (date.fromisoformat(str(s["period_end"])) - date.fromisoformat(str(s["period_start"]))).days
        for s in sitrep_rows.values()
    }
    assert 6 in lengths and lengths & {27, 28, 29, 30}
    levels = Counter(
        "country" if ln["admin1"] is None else "admin1" if ln["admin2"] is None else "admin2"
        for ln in lines
    )
    assert levels.keys() == {"country", "admin1", "admin2"}
    from app.reference import catalog as reference

    without_pcodes = {c for c in dataset.plan.countries if not reference.children_of(c)}
    assert without_pcodes
    assert all(ln["admin1"] is None for ln in lines if ln["country"] in without_pcodes)
    assert counts.amended and counts.withdrawn
    assert any(s["revision"] >= 3 for s in sitrep_rows.values())
    assert sum(1 for s in sitrep_rows.values() if s["crisis_id"] is None)
    assert any(_json(ln["indicators"]) for ln in lines)
    assert any(ln["people_reached_new"] < ln["people_reached"] for ln in lines)
    users = _rows("users")
    assert [u["role"] for u in users].count("field") == len(dataset.plan.countries)
    multi = Counter(r["crisis_id"] for r in _rows("crisis_countries", "crisis_id, country"))
    assert max(multi.values()) > 1


# --- the API reads it ------------------------------------------------------------------


def test_the_service_reads_generated_sitreps_and_revisions(
    dataset: Any, api: Callable[..., Api]
) -> None:
    admin = api("admin")
    listed = _all_sitreps(admin)
    assert len(listed) == dataset.counts.sitreps
    revisions: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in _rows("sitrep_revisions"):
        revisions[row["sitrep_id"]].append(row)
    changed = [s for s in listed if s["revision"] > 1 or s["status"] == "withdrawn"]
    sample = changed[:: max(1, len(changed) // 40)] + listed[:: max(1, len(listed) // 20)]
    assert len({s["id"] for s in sample}) > 40
    assert any(s["revision"] > 2 for s in sample)
    for item in sample:
        answer = admin.get(f"{API}/sitreps/{item['id']}")
        assert answer.status_code == 200, answer.text
        assert answer.headers["ETag"] == f'"{item["id"]}-{item["revision"]}-{item["status"]}"'
        assert answer.json() == item
        pages = admin.get(f"{API}/sitreps/{item['id']}/revisions?limit=1000").json()
        stored = sorted(revisions[item["id"]], key=lambda r: r["revision"])
        assert [r["revision"] for r in pages["items"]] == list(range(1, item["revision"] + 1))
        for read, row in zip(pages["items"], stored, strict=True):
            assert read["lines"] == _json(row["lines"])
            assert read["narrative"] == row["narrative"]
            assert read["submitted_by"] == f"field-{item['country'].lower()}"
        assert pages["items"][-1]["lines"] == item["lines"]


def _recount(
    live: list[dict[str, Any]], groups: list[str]
) -> dict[tuple[Any, ...], dict[str, int]]:
    """DOMAIN.md's rules from the latest revisions of the live sitreps: people_reached is the
    sum of people_reached_new; the unique estimate takes, per location (admin1, admin2 as
    reported), the largest sector's reach and adds up the locations; in_periods sums
    people_reached; the year's target of a slot and location is the one its latest line
    that states a target states, and the targets add up (the unique one as reach does)."""
    per_location: dict[tuple[Any, ...], dict[tuple[Any, ...], Counter[str]]] = defaultdict(
        lambda: defaultdict(Counter)
    )
    targets: dict[tuple[Any, ...], dict[tuple[Any, ...], Counter[str]]] = defaultdict(
        lambda: defaultdict(Counter)
    )
    rows: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)
    latest: dict[tuple[Any, ...], tuple[str, int]] = {}
    for sitrep in live:
        year = date.fromisoformat(sitrep["period_end"]).year
        for line in sitrep["lines"]:
            if line["people_targeted"] is not None:
                chain = (sitrep["country"], sitrep["crisis_id"], year, *_slot(line))
                if chain not in latest or sitrep["period_end"] > latest[chain][0]:
                    latest[chain] = (sitrep["period_end"], line["id"])
    carriers = {line_id for _end, line_id in latest.values()}
    for sitrep in live:
        year = date.fromisoformat(sitrep["period_end"]).year
        for line in sitrep["lines"]:
            values = {**line, "crisis": sitrep["crisis_id"]}
            key = (sitrep["country"], year, *(values[g] for g in groups))
            location = (line["admin1"], line["admin2"])
            target = line["people_targeted"] if line["id"] in carriers else 0
            per_location[key][location][line["sector"]] += line["people_reached_new"]
            targets[key][location][line["sector"]] += target
            row = rows[key]
            row["people_reached"] += line["people_reached_new"]
            row["people_reached_in_periods"] += line["people_reached"]
            row["people_targeted"] += target
            row["lines"] += 1
    for key, locations in per_location.items():
        rows[key]["people_reached_unique"] = sum(max(s.values()) for s in locations.values())
        rows[key]["people_targeted_unique"] = sum(max(s.values()) for s in targets[key].values())
    return {key: {f: row[f] for f in FIGURES} for key, row in rows.items()}


def _slot(line: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(line[f] for f in ("sector", "division", "phase", "admin1", "admin2"))


def test_totals_equal_a_recount_from_scratch(dataset: Any, api: Callable[..., Api]) -> None:
    admin = api("admin")
    live = [s for s in _all_sitreps(admin) if s["status"] == "submitted"]
    for group_by in ("", "sector", "division,phase", "crisis,admin1", "sector,division,phase"):
        groups = [g for g in GROUPS if g in group_by.split(",")]
        answer = admin.get(f"{API}/totals" + (f"?group_by={group_by}" if group_by else ""))
        assert answer.status_code == 200, answer.text
        served = {
            (
                row["country"],
                row["year"],
                *(row["crisis_id" if g == "crisis" else g] for g in groups),
            ): {f: row[f] for f in FIGURES}
            for row in answer.json()["rows"]
        }
        assert served == _recount(live, groups), group_by
        assert sum(r["lines"] for r in served.values()) == dataset.counts.live_lines
        # Several sectors at one location: the unique estimate is below the sum.
        assert any(r["people_reached_unique"] < r["people_reached"] for r in served.values()) == (
            "sector" not in groups
        )
    # One country-year, as headquarters asks for it.
    country, year = live[0]["country"], date.fromisoformat(live[0]["period_end"]).year
    answer = admin.get(f"{API}/totals?country={country}&year={year}&group_by=sector")
    expected = {
        key: figures
        for key, figures in _recount(live, ["sector"]).items()
        if key[:2] == (country, year)
    }
    served = {
        (row["country"], row["year"], row["sector"]): {f: row[f] for f in FIGURES}
        for row in answer.json()["rows"]
    }
    assert served == expected and expected


def _pull(api: Api, cluster: str, since: str | None, limit: int) -> Iterator[dict[str, Any]]:
    """Every item of a feed, page after page, from ``since`` (or a first pull)."""
    while True:
        query = f"?limit={limit}" + (f"&since={since}" if since else "")
        answer = api.get(f"{API}/clusters/{cluster}/feed{query}")
        assert answer.status_code == 200, answer.text
        page = answer.json()
        yield from page["items"]
        since = page["next_cursor"]
        if len(page["items"]) < limit:
            return


def test_feeds_hand_out_every_live_line_exactly_once(dataset: Any, api: Callable[..., Api]) -> None:
    admin = api("admin")
    live = [s for s in _all_sitreps(admin) if s["status"] == "submitted"]
    for since in (None, encode_cursor("feed", [0])):
        _check_feeds(admin, live, since)
        assert dataset.counts.live_lines == sum(len(s["lines"]) for s in live)


def _check_feeds(admin: Api, live: list[dict[str, Any]], since: str | None) -> None:
    """A consumer pulling each cluster's feed (a first pull, or the whole log from the
    beginning) and applying it ends up with the live lines; each came exactly once."""
    for cluster, sector in CLUSTER_SECTORS.items():
        expected = {
            line["id"]: (sitrep["id"], sitrep["revision"], line)
            for sitrep in live
            for line in sitrep["lines"]
            if line["sector"] == sector
        }
        seen: Counter[int] = Counter()
        state: dict[int, dict[str, Any]] = {}
        items = 0
        for item in _pull(admin, cluster, since, limit=97):
            seen[item["line_id"]] += 1
            items += 1
            if item["status"] == "submitted":
                state[item["line_id"]] = item
            else:
                state.pop(item["line_id"], None)
        assert state.keys() == expected.keys()
        assert all(seen[line_id] == 1 for line_id in expected)
        for line_id, item in state.items():
            sitrep_id, revision, line = expected[line_id]
            assert (item["sitrep_id"], item["revision"]) == (sitrep_id, revision)
            for name in ("admin1", "admin2", "division", "phase", "indicators"):
                assert item[name] == line[name]
            for name in ("people_reached", "people_reached_new", "people_targeted"):
                assert item[name] == line[name]
            assert item["disaggregation"] == line["disaggregation"]
        if since is not None:
            # From the beginning, the log holds every line of the sector once, live or not.
            assert len(seen) == items


# --- the slot rule ---------------------------------------------------------------------


def test_no_two_live_sitreps_report_a_slot_for_overlapping_periods(
    dataset: Any, api: Callable[..., Api]
) -> None:
    slots: dict[tuple[Any, ...], list[tuple[str, str, int]]] = defaultdict(list)
    for line in _rows("sitrep_lines"):
        if line["status"] == "submitted":
            slots[(line["crisis_id"], line["country"], line["line_key"])].append(
                (str(line["period_start"]), str(line["period_end"]), line["sitrep_id"])
            )
    assert any(len(periods) > 1 for periods in slots.values())
    for periods in slots.values():
        periods.sort()
        for (_start, end, _sitrep), (start, _end, _next) in itertools.pairwise(periods):
            assert start > end
    # The service sees the slots taken: a second sitrep for one is a conflict naming it.
    admin = api("admin")
    live = [s for s in _all_sitreps(admin) if s["status"] == "submitted"]
    for sitrep in live[:: max(1, len(live) // 10)]:
        body = {k: sitrep[k] for k in ("country", "crisis_id", "period_start", "period_end")}
        body["lines"] = [{k: v for k, v in ln.items() if k != "id"} for ln in sitrep["lines"]]
        answer = admin.post(f"{API}/sitreps", json=body)
        assert answer.status_code == 409, answer.text
        assert answer.json()["conflicting_sitrep_id"] == sitrep["id"]


# --- the service goes on from there ----------------------------------------------------


def test_generated_sitreps_are_amended_and_withdrawn_through_the_api(
    dataset: Any, api: Callable[..., Api]
) -> None:
    admin = api("admin")
    listed = _all_sitreps(admin)
    sitrep = next(
        s
        for s in listed
        if s["status"] == "submitted" and s["revision"] > 1 and len(s["lines"]) > 1
    )
    answer = admin.get(f"{API}/sitreps/{sitrep['id']}")
    etag = answer.headers["ETag"]
    body = {k: sitrep[k] for k in ("country", "crisis_id", "period_start", "period_end")}
    body["narrative"] = "Corrected once more."
    lines = [{k: v for k, v in ln.items() if k != "id"} for ln in sitrep["lines"]]
    kept, dropped = lines[:-1], sitrep["lines"][-1]
    kept[0]["people_reached"] += 10
    if kept[0]["disaggregation"]:
        kept[0]["disaggregation"]["women"] += 10
    body["lines"] = kept
    assert admin.put(f"{API}/sitreps/{sitrep['id']}", json=body).status_code == 428
    answer = admin.put(f"{API}/sitreps/{sitrep['id']}", json=body, headers={"If-Match": etag})
    assert answer.status_code == 200, answer.text
    revision = sitrep["revision"] + 1
    assert answer.headers["ETag"] == f'"{sitrep["id"]}-{revision}-submitted"'
    amended = answer.json()
    assert [ln["id"] for ln in amended["lines"]] == [ln["id"] for ln in sitrep["lines"][:-1]]
    pages = admin.get(f"{API}/sitreps/{sitrep['id']}/revisions").json()
    assert [r["revision"] for r in pages["items"]] == list(range(1, revision + 1))

    # The feed goes on from the generated counter: the amended lines, the dropped one.
    since = encode_cursor("feed", [dataset.feed])
    changed = [
        item for cluster in CLUSTER_SECTORS for item in _pull(admin, cluster, since, limit=1000)
    ]
    assert sorted(i["line_id"] for i in changed) == sorted(ln["id"] for ln in sitrep["lines"])
    assert {i["line_id"]: i["status"] for i in changed}[dropped["id"]] == "withdrawn"
    assert _feed_counter() == dataset.feed + len(sitrep["lines"])

    answer = admin.request(
        "DELETE",
        f"{API}/sitreps/{sitrep['id']}",
        json={"reason": "Test withdrawal."},
        headers={"If-Match": f'"{sitrep["id"]}-{revision}-submitted"'},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "withdrawn"

    # Its slots are free again: a new sitrep takes them, with the next ids of every table.
    body["narrative"] = "Resubmitted."
    answer = admin.post(f"{API}/sitreps", json=body)
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["id"] == max(s["id"] for s in listed) + 1
    starts = dataset.plan.starts
    assert min(ln["id"] for ln in created["lines"]) == starts.line + dataset.counts.lines
    last_revision = max(r["id"] for r in _rows("sitrep_revisions"))
    assert last_revision == starts.revision + dataset.counts.revisions + 1
