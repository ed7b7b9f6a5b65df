#!/usr/bin/env python3
"""The crisis-tracker benchmark: every figure next to a raw baseline measured in the same run.

    python bench/run.py --lines 10000000 --db postgres
    python bench/run.py --lines 1000000 --db sqlite [--reuse]

It generates the data set (bench/generate.py: about 200 countries with their real p-codes,
ten years of weekly and monthly sitreps, amendments and withdrawals) into a fresh database,
or reuses the one a previous run left (``--reuse``), starts the real server on it
(``crisis-tracker serve``, one worker) and measures, through HTTP and raw:

- totals: one country-year, and all countries of a year by sector, against the raw SQL the
  service runs (over the totals cells) and a from-scratch GROUP BY over every line; the
  three must give the same numbers;
- feeds: the first page of 1,000 and a page deep in the feed, against the same keyset
  SELECT plus orjson; on SQLite, the same query served by datasette over the same file;
- ingest: single sitreps and batches through HTTP, against a raw loop of one insert and
  commit per sitrep, and a raw bulk insert (COPY on PostgreSQL, one-transaction
  executemany on SQLite) of the same rows;
- memory: the server's resident set while serving, and over a long feed traversal.

The results go to the terminal and into bench/RESULTS.md (one section per database and
size, replaced by a rerun), with the machine they came from.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import platform
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import psycopg

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (ROOT, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import generate  # noqa: E402
import load  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.clusters import catalog  # noqa: E402
from app.totals import service as totals  # noqa: E402

HOST = "127.0.0.1"
API = "/api/v1"
RESULTS = HERE / "RESULTS.md"


# --- measuring ---------------------------------------------------------------------------


def timed(action: Callable[[], Any], runs: int, warmup: int = 2) -> list[float]:
    """Seconds per call of ``action``, ``runs`` times after ``warmup`` unmeasured calls."""
    for _ in range(warmup):
        action()
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return seconds


def p50(seconds: list[float]) -> float:
    return statistics.median(seconds)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.2f} ms"


@dataclass
class Figure:
    section: str
    name: str
    value: str
    baseline_name: str
    baseline: str
    ratio: str


@dataclass
class Target:
    name: str
    goal: str
    measured: str
    met: bool


@dataclass
class Results:
    db: str
    lines: int
    figures: list[Figure] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self, section: str, name: str, value: str, baseline_name: str, baseline: str, ratio: str
    ) -> None:
        self.figures.append(Figure(section, name, value, baseline_name, baseline, ratio))
        print(f"  {name}: {value}  |  {baseline_name}: {baseline}  |  {ratio}")

    def target(self, name: str, goal: str, measured: str, met: bool) -> None:
        self.targets.append(Target(name, goal, measured, met))

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}")


class Http:
    """A keep-alive HTTP/1.1 connection to the server, as one client."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.conn = http.client.HTTPConnection(HOST, port, timeout=300)
        self.used = time.monotonic()
        self.last_headers: dict[str, str] = {}
        self.last_status = 0

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        expect: int = 200,
        headers: dict[str, str] | None = None,
    ) -> bytes:
        headers = {**self.headers, **(headers or {})}
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        if time.monotonic() - self.used > 3:  # uvicorn closes idle connections after 5 s
            self.conn.close()
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=300)
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        payload = response.read()
        self.used = time.monotonic()
        self.last_headers = dict(response.getheaders())
        self.last_status = response.status
        if response.status != expect:
            raise SystemExit(f"{method} {path}: {response.status} {payload[:500]!r}")
        return payload

    def get(self, path: str, **params: Any) -> bytes:
        return self.call("GET", f"{path}?{urlencode(params)}" if params else path)


class Raw:
    """The database through its own driver, with no service in between."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.postgres = parsed.drivername.startswith("postgresql")
        if self.postgres:
            conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            self.conn: Any = psycopg.connect(conninfo, autocommit=True)
            from sqlalchemy.dialects import postgresql

            self.dialect = postgresql.dialect()
        else:
            self.conn = sqlite3.connect(parsed.database or "", isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            from sqlalchemy.dialects import sqlite

            self.dialect = sqlite.dialect()

    def sql(self, statement: Any) -> str:
        return str(statement.compile(dialect=self.dialect, compile_kwargs={"literal_binds": True}))

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.cursor()
        cur.execute(sql.replace("?", "%s") if self.postgres else sql, params)
        rows = cur.fetchall()
        return [tuple(r) for r in rows]

    def execute(self, sql: str) -> None:
        self.conn.cursor().execute(sql)

    def close(self) -> None:
        self.conn.close()


def rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in kB."""
    fields = {}
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = row.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def server_pid(port: int) -> int:
    """The pid of the process listening on ``port`` (the uvicorn worker with one worker)."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            parts = row.split()
            if int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == "0A":
                inode = parts[9]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) == f"socket:[{inode}]":
                    return int(proc.name)
    raise SystemExit(f"no process listens on port {port}")


# --- the data set ------------------------------------------------------------------------


def database(db: str, lines: int, reuse: bool, seed: int) -> str:
    if db == "postgres":
        server = os.environ.get("TRACKER_BENCH_POSTGRES", generate.DEFAULT_POSTGRES)
        name = f"crisis_tracker_bench_{lines}"
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        if reuse and _holds_data(url):
            return url
        url = generate._fresh_postgres(server, name)
    else:
        path = generate.OUT_DIR / f"bench-{lines}.db"
        url = f"sqlite:///{path}"
        if reuse and path.exists() and _holds_data(url):
            return url
        url = generate._fresh_sqlite(path)
    config = generate.Config(
        lines=lines,
        seed=seed,
        countries=200,
        years=10,
        end=generate.default_end(),
        chunk_lines=10_000,
    )
    print(f"generating {lines:,} lines into {make_url(url).render_as_string(hide_password=True)}")
    report = generate.load(url, config, exclusive=db == "sqlite")
    print(f"  generated and loaded in {report.total_seconds:.0f} s")
    return url


def _holds_data(url: str) -> bool:
    with contextlib.suppress(Exception):
        raw = Raw(url)
        try:
            return bool(raw.rows("SELECT count(*) FROM totals_cells")[0][0])
        finally:
            raw.close()
    return False


# --- the measurements --------------------------------------------------------------------


def measure_floor(results: Results, client: Http, runs: int) -> None:
    """What authentication adds to a request: GET /api/v1/me (token checked, user read)
    against GET /healthz (nothing checked, no database), alternated on one connection so
    that both see the same machine."""
    print("request floor")
    me: list[float] = []
    health: list[float] = []
    timed(lambda: client.get(f"{API}/me"), 0, warmup=20)
    for _ in range(runs * 10):
        me += timed(lambda: client.get(f"{API}/me"), 1, warmup=0)
        health += timed(lambda: client.get("/healthz"), 1, warmup=0)
    ratio = p50(me) / p50(health)
    results.add(
        "request floor",
        "authenticated GET /api/v1/me, p50",
        ms(p50(me)),
        "GET /healthz",
        ms(p50(health)),
        f"{ratio:.2f}x",
    )
    results.target(
        "request floor: authenticated GET /api/v1/me against /healthz",
        "<= 2x",
        f"{ratio:.2f}x",
        ratio <= 2,
    )
    # A coordinator's poll that finds nothing new: the caught-up cursor, the page's ETag.
    feed = f"{API}/clusters/health/feed"
    cursor = orjson.loads(client.get(feed, limit=1))["next_cursor"]
    while True:
        page = orjson.loads(client.get(feed, since=cursor, limit=1000))
        cursor = page["next_cursor"]
        if len(page["items"]) < 1000:
            break
    poll = f"{feed}?{urlencode({'since': cursor, 'limit': 1000})}"
    client.call("GET", poll)
    etag = client.last_headers["etag"]
    polls: list[float] = []
    me = []
    for _ in range(runs * 10):
        polls += timed(
            lambda: client.call("GET", poll, expect=304, headers={"If-None-Match": etag}),
            1,
            warmup=0,
        )
        me += timed(lambda: client.get(f"{API}/me"), 1, warmup=0)
    poll_ratio = p50(polls) / p50(me)
    results.add(
        "request floor",
        "feed poll with nothing new (If-None-Match, 304), p50",
        ms(p50(polls)),
        "authenticated GET /api/v1/me",
        ms(p50(me)),
        f"{poll_ratio:.2f}x",
    )
    results.target(
        "feed poll with nothing new against authenticated /me",
        "<= 2x",
        f"{poll_ratio:.2f}x",
        poll_ratio <= 2,
    )


def measure_totals(results: Results, raw: Raw, client: Http, runs: int) -> str:
    """Measures totals; returns the country of the busiest country-year it measured."""
    print("totals")
    (year,) = raw.rows(
        "SELECT year FROM totals_cells GROUP BY year ORDER BY sum(lines) DESC, year DESC LIMIT 1"
    )[0]
    (country,) = raw.rows(
        "SELECT country FROM totals_cells WHERE year = ? GROUP BY country "
        "ORDER BY sum(lines) DESC LIMIT 1",
        (year,),
    )[0]
    # What no pre-aggregation costs: the counting rules over every line of every year.
    everything = raw.sql(
        totals.totals_select(totals.TotalsQuery(), countries=None, source=totals.LINES)
    )
    full = timed(lambda: raw.rows(everything), 3, warmup=0)
    results.note(
        f"the counting rules over all {raw.rows('SELECT count(*) FROM sitrep_lines')[0][0]:,} "
        f"lines (every country and year, from scratch): p50 {ms(p50(full))}"
    )
    cases = [
        (f"one country-year ({country} {year})", {"country": country, "year": year}, [country]),
        (f"all countries of {year}", {"year": year}, None),
        (f"all countries of {year} by sector", {"year": year, "group_by": "sector"}, None),
    ]
    for label, params, countries in cases:
        query = totals.TotalsQuery(
            group_by=tuple(str(params.get("group_by", "")).split(","))
            if "group_by" in params
            else (),
            countries=countries,
            years=[year],
        )
        cells_sql = raw.sql(totals.totals_select(query, countries=countries))
        lines_sql = raw.sql(totals.totals_select(query, countries=countries, source=totals.LINES))
        over_http = timed(lambda p=params: client.get(f"{API}/totals", **p), runs)  # type: ignore[misc]
        service_sql = timed(lambda s=cells_sql: raw.rows(s), runs)  # type: ignore[misc]
        scratch = timed(lambda s=lines_sql: raw.rows(s), max(3, runs // 10), warmup=1)  # type: ignore[misc]
        shown = orjson.loads(client.get(f"{API}/totals", **params))["rows"]
        http_numbers = [tuple(r[f] for f in totals.FIGURES) for r in shown]
        recount = [tuple(int(v) for v in r[-len(totals.FIGURES) :]) for r in raw.rows(lines_sql)]
        cells = [tuple(int(v) for v in r[-len(totals.FIGURES) :]) for r in raw.rows(cells_sql)]
        equal = http_numbers == recount == cells
        results.add(
            "totals",
            f"{label} over HTTP, p50",
            ms(p50(over_http)),
            "the service's SQL, raw",
            ms(p50(service_sql)),
            f"{p50(over_http) / p50(service_sql):.1f}x",
        )
        speedup = p50(scratch) / p50(over_http)
        results.add(
            "totals",
            f"{label} over HTTP, p50",
            ms(p50(over_http)),
            "the same rules over its lines, from scratch",
            ms(p50(scratch)),
            f"{speedup:,.1f}x faster",
        )
        results.note(
            f"{label}: {len(shown)} rows, {sum(r['lines'] for r in shown):,} lines; HTTP, "
            f"cells and the from-scratch recount equal: {'yes' if equal else 'NO'}"
        )
        results.target(
            f"totals {label}: p50 over HTTP", "< 50 ms", ms(p50(over_http)), p50(over_http) < 0.050
        )
        results.target(
            f"totals {label}: against from-scratch GROUP BY of its lines",
            ">= 100x faster",
            f"{speedup:,.1f}x",
            speedup >= 100,
        )
        results.target(f"totals {label}: equal to the recount", "always", str(equal), equal)
        against_all = p50(full) / p50(over_http)
        results.target(
            f"totals {label}: against the rules over all lines",
            ">= 100x faster",
            f"{against_all:,.0f}x",
            against_all >= 100,
        )
    # Issue 11: every group_by subset of one year, all countries, under 50 ms.
    subsets = [
        combo
        for k in range(len(totals.GROUPS) + 1)
        for combo in itertools.combinations(totals.GROUPS, k)
    ]
    slowest: tuple[float, str, int] = (0.0, "", 0)
    for combo in subsets:
        params: dict[str, Any] = {"year": year, **({"group_by": ",".join(combo)} if combo else {})}
        took = p50(timed(lambda p=params: client.get(f"{API}/totals", **p), max(5, runs // 6)))  # type: ignore[misc]
        rows = len(orjson.loads(client.get(f"{API}/totals", **params))["rows"])
        print(f"  group_by={','.join(combo) or '(none)'} for {year}: {rows:,} rows, p50 {ms(took)}")
        slowest = max(slowest, (took, ",".join(combo) or "(none)", rows))
    results.note(
        f"every group_by subset of {year} ({len(subsets)}, all countries): the slowest, "
        f"group_by={slowest[1]} ({slowest[2]:,} rows), p50 {ms(slowest[0])}"
    )
    results.target(
        f"totals every group_by subset of {year}: the slowest p50 over HTTP",
        "< 50 ms",
        f"{ms(slowest[0])} (group_by={slowest[1]})",
        slowest[0] < 0.050,
    )
    return str(country)


def measure_feeds(
    results: Results, raw: Raw, client: Http, runs: int, url: str, datasette: bool
) -> None:
    print("feeds")
    cluster = "shelter"
    sectors = catalog.get_cluster(cluster).sectors
    sector_list = ", ".join(f"'{s}'" for s in sectors)
    (count, top) = raw.rows(
        f"SELECT count(*), max(feed_seq) FROM sitrep_lines WHERE sector IN ({sector_list})"
    )[0]
    # Feed positions are (feed_xid, feed_seq), as the service orders them (app.sitreps.order).
    (deep_xid, deep_seq) = raw.rows(
        f"SELECT feed_xid, feed_seq FROM sitrep_lines WHERE sector IN ({sector_list}) "
        "ORDER BY feed_xid, feed_seq "
        f"LIMIT 1 OFFSET {max(0, min(int(count * 0.9), count - 1001))}"
    )[0]
    from app.pagination import encode_cursor

    deep_cursor = encode_cursor("feed", [deep_xid, deep_seq])
    path = f"{API}/clusters/{cluster}/feed"
    first = timed(lambda: client.get(path, limit=1000), runs)
    deep = timed(lambda: client.get(path, limit=1000, since=deep_cursor), runs)
    items = orjson.loads(client.get(path, limit=1000, since=deep_cursor))["items"]
    assert len(items) == 1000, len(items)

    columns = (
        "id, sitrep_id, revision, status, country, admin1, admin2, sector, division, phase, "
        "crisis_id, period_start, period_end, people_reached, people_reached_new, "
        "people_targeted, women, men, girls, boys, persons_with_disabilities, indicators, "
        "updated_at"
    )
    names = [c.strip() for c in columns.split(",")]
    keyset = (
        f"SELECT {columns} FROM sitrep_lines WHERE sector IN ({sector_list}) "
        "AND (feed_xid, feed_seq) > (?, ?) ORDER BY feed_xid, feed_seq LIMIT 1000"
    )

    def raw_page() -> bytes:
        rows = raw.rows(keyset, (deep_xid, deep_seq))
        return orjson.dumps([dict(zip(names, row, strict=True)) for row in rows])

    raw_deep = timed(raw_page, runs)
    results.add(
        "feeds",
        "first page of 1,000 over HTTP, p50",
        ms(p50(first)),
        "raw keyset SELECT + orjson",
        ms(p50(raw_deep)),
        f"{p50(first) / p50(raw_deep):.1f}x",
    )
    results.add(
        "feeds",
        "deep page of 1,000 (90% in) over HTTP, p50",
        ms(p50(deep)),
        "raw keyset SELECT + orjson",
        ms(p50(raw_deep)),
        f"{p50(deep) / p50(raw_deep):.1f}x",
    )
    results.note(f"feed of cluster {cluster}: {count:,} lines, last feed_seq {top:,}")
    results.target(
        "feeds: deep page against first page",
        "<= 1.5x",
        f"{p50(deep) / p50(first):.2f}x",
        p50(deep) <= 1.5 * p50(first),
    )
    results.target(
        "feeds: deep page against raw SELECT + orjson",
        "<= 2x",
        f"{p50(deep) / p50(raw_deep):.1f}x",
        p50(deep) <= 2 * p50(raw_deep),
    )
    ours = 1000 / p50(deep)
    if not datasette:
        results.note("datasette serves SQLite files only: compared in the SQLite run")
        return
    with serve_datasette(make_url(url).database or "") as port:
        ds = http.client.HTTPConnection(HOST, port, timeout=300)
        table = Path(make_url(url).database or "").stem
        query = urlencode(
            {
                "sector": cluster,
                # SQLite's lines all have feed_xid 0: the feed index's order is feed_seq's.
                "feed_xid": deep_xid,
                "feed_seq__gt": deep_seq,
                "_sort": "feed_seq",
                "_size": 1000,
                "_shape": "array",
                "_nofacet": 1,
                "_nocount": 1,
            }
        )
        ds_path = f"/{table}/sitrep_lines.json?{query}"

        def ds_page() -> bytes:
            ds.request("GET", ds_path)
            response = ds.getresponse()
            body = response.read()
            if response.status != 200:
                raise SystemExit(f"datasette: {response.status} {body[:300]!r}")
            return body

        got = orjson.loads(ds_page())
        assert len(got) == 1000 and got[0]["id"] == items[0]["line_id"], "not the same page"
        ds_deep = timed(ds_page, runs)
        theirs = 1000 / p50(ds_deep)
        results.add(
            "feeds",
            "deep page of 1,000 over HTTP, rows/s",
            f"{ours:,.0f} rows/s ({1 / p50(deep):.1f} req/s)",
            "datasette, same query and file",
            f"{theirs:,.0f} rows/s ({1 / p50(ds_deep):.1f} req/s)",
            f"{ours / theirs:.1f}x",
        )
        results.target(
            "feeds: rows/s against datasette", ">= 2x", f"{ours / theirs:.1f}x", ours >= 2 * theirs
        )


@contextlib.contextmanager
def serve_datasette(path: str) -> Iterator[int]:
    port = load.free_port()
    exe = Path(sys.executable).with_name("datasette")
    process = subprocess.Popen(
        [
            str(exe),
            "serve",
            "--immutable",
            path,
            "--host",
            HOST,
            "--port",
            str(port),
            "--setting",
            "sql_time_limit_ms",
            "60000",
            "--setting",
            "max_returned_rows",
            "1000",
            "--setting",
            "num_sql_threads",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(600):
            with contextlib.suppress(OSError):
                socket.create_connection((HOST, port), timeout=1).close()
                break
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


def ingest_sitreps(
    crisis_id: int, countries: list[str], count: int, offset: int, rng: random.Random
) -> list[dict[str, Any]]:
    """``count`` sitreps of about a dozen lines each, in a crisis made for the benchmark, each
    on slots of its own (so none conflicts with another or with the data set)."""
    slots = [
        (country, admin1, sector, division, phase)
        for country in countries
        for admin1 in load.admin1_of(country)
        for sector in ("shelter", "wash", "cccm", "cash", "health")
        for division in ("pcca", "prd", "hod")
        for phase in ("preparedness", "response", "recovery")
    ]
    by_country: dict[str, list[tuple[str, ...]]] = {}
    for slot in slots:
        by_country.setdefault(slot[0], []).append(slot)
    sitreps = []
    for n in range(offset, offset + count):
        country = countries[n % len(countries)]
        own = by_country[country]
        week = n // len(countries)
        start = date.fromordinal(date(2024, 1, 1).toordinal() + 7 * week)
        end = date.fromordinal(start.toordinal() + 6)
        picked = rng.sample(own, 12)
        sitreps.append(
            {
                "country": country,
                "crisis_id": crisis_id,
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
                "narrative": "Benchmark sitrep.",
                "lines": [load.make_line(rng, s, d, p, a1, None) for _c, a1, s, d, p in picked],
            }
        )
    return sitreps


def raw_lines_table(raw: Raw) -> list[str]:
    """DDL for ``bench_raw_lines``: the service's sitrep_lines, its columns, primary key,
    unique constraint and every index (renamed), without its foreign keys (the raw rows
    have no sitreps to refer to). The raw baselines write into it what the service writes
    into sitrep_lines, so that they pay for the same indexes."""
    from sqlalchemy import ForeignKeyConstraint, MetaData
    from sqlalchemy.schema import CreateIndex, CreateTable

    from app.sitreps.models import SitrepLine

    table = SitrepLine.__table__.to_metadata(MetaData(), name="bench_raw_lines")
    for constraint in list(table.constraints):
        if isinstance(constraint, ForeignKeyConstraint):
            table.constraints.remove(constraint)
        elif constraint.name:
            constraint.name = f"bench_raw_{constraint.name}"
    for column in table.columns:
        column.foreign_keys.clear()
    statements = [str(CreateTable(table).compile(dialect=raw.dialect))]
    for index in table.indexes:
        index.name = f"bench_raw_{index.name}"
        statements.append(str(CreateIndex(index).compile(dialect=raw.dialect)))
    return statements


def raw_rows(
    sitreps: list[dict[str, Any]], first: int = 0
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The sitrep_lines rows the service stores for these sitreps (the columns of
    app.sitreps.rules.line_columns under each sitrep's header), numbered from ``first``."""
    from app.sitreps import rules
    from app.sitreps.schemas import LineIn

    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for n, s in enumerate(sitreps, start=first):
        end = date.fromisoformat(s["period_end"])
        header = {
            "sitrep_id": n,
            "status": "submitted",
            "revision": 1,
            "country": s["country"],
            "crisis_id": s["crisis_id"],
            "period_start": date.fromisoformat(s["period_start"]),
            "period_end": end,
            "year": end.year,
            "updated_at": now,
        }
        for ln in s["lines"]:
            line = LineIn.model_validate(ln)
            columns = rules.line_columns(line, rules.line_key(line))
            rows.append(
                {
                    **header,
                    **columns,
                    "id": len(rows) + 1 + first * 100,
                    "feed_seq": len(rows) + 1 + first * 100,
                    "feed_xid": 0,
                }
            )
    names = list(rows[0])
    return names, [
        tuple(json.dumps(r[k]) if k == "indicators" else r[k] for k in names) for r in rows
    ]


def measure_ingest(
    results: Results, raw: Raw, client: Http, singles: int, batches: int, batch_size: int
) -> None:
    print("ingest")
    rng = random.Random(7)
    # Twenty country offices with p-codes: a week of sitreps is twenty sitreps, so the
    # periods stay in the past.
    countries = [c for c in sorted(load.reference.countries()) if len(load.admin1_of(c)) >= 8][:20]
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    crisis = orjson.loads(
        client.call(
            "POST",
            f"{API}/crises",
            {
                "name": f"Benchmark crisis {stamp}",
                "kind": "other",
                "countries": countries,
                "started_on": "2024-01-01",
            },
            expect=201,
        )
    )["id"]
    single = ingest_sitreps(crisis, countries, singles, 0, rng)
    batched = ingest_sitreps(crisis, countries, batches * batch_size, singles, rng)

    started = time.perf_counter()
    for body in single:
        client.call("POST", f"{API}/sitreps", body, expect=201)
    single_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for k in range(batches):
        answer = orjson.loads(
            client.call(
                "POST",
                f"{API}/sitreps/batch",
                {"sitreps": batched[k * batch_size : (k + 1) * batch_size]},
            )
        )
        refused = [r for r in answer["results"] if r["status"] != 201]
        if refused:
            raise SystemExit(f"batch refused {len(refused)} sitreps: {refused[0]}")
    batch_seconds = time.perf_counter() - started
    single_lines = sum(len(s["lines"]) for s in single)
    batch_lines = sum(len(s["lines"]) for s in batched)

    # The raw baselines write the same lines, as the service stores them, into a table with
    # sitrep_lines' own indexes (raw_lines_table).
    raw.execute("DROP TABLE IF EXISTS bench_raw_lines")
    for ddl in raw_lines_table(raw):
        raw.execute(ddl)
    conn = raw.conn
    started = time.perf_counter()
    for n, body in enumerate(single):
        names, rows = raw_rows([body], n)
        mark = "%s" if raw.postgres else "?"
        insert = (
            f"INSERT INTO bench_raw_lines ({', '.join(names)}) VALUES "
            f"({', '.join([mark] * len(names))})"
        )
        if raw.postgres:
            with conn.transaction():
                conn.cursor().executemany(insert, rows)
        else:
            conn.execute("BEGIN")
            conn.executemany(insert, rows)
            conn.execute("COMMIT")
    raw_single_seconds = time.perf_counter() - started
    names, rows = raw_rows(batched, singles)
    started = time.perf_counter()
    if raw.postgres:
        copy_sql = f"COPY bench_raw_lines ({', '.join(names)}) FROM STDIN"
        with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(row)
        bulk = "raw COPY"
    else:
        insert = (
            f"INSERT INTO bench_raw_lines ({', '.join(names)}) VALUES "
            f"({', '.join(['?'] * len(names))})"
        )
        conn.execute("BEGIN")
        conn.executemany(insert, rows)
        conn.execute("COMMIT")
        bulk = "raw executemany, one transaction"
    raw_bulk_seconds = time.perf_counter() - started
    raw.execute("DROP TABLE bench_raw_lines")

    ours_single = single_lines / single_seconds
    theirs_single = single_lines / raw_single_seconds
    ours_batch = batch_lines / batch_seconds
    theirs_batch = batch_lines / raw_bulk_seconds
    results.add(
        "ingest",
        f"{singles} single sitreps over HTTP ({single_lines:,} lines)",
        f"{ours_single:,.0f} lines/s ({singles / single_seconds:,.1f} sitreps/s)",
        "raw insert + commit per sitrep",
        f"{theirs_single:,.0f} lines/s ({singles / raw_single_seconds:,.1f} sitreps/s)",
        f"{ours_single / theirs_single:.3f}x",
    )
    results.add(
        "ingest",
        f"{batches} batches of {batch_size} over HTTP ({batch_lines:,} lines)",
        f"{ours_batch:,.0f} lines/s",
        bulk,
        f"{theirs_batch:,.0f} lines/s",
        f"{ours_batch / theirs_batch:.3f}x",
    )
    # Issue 11's targets: single sitreps at 0.1x of raw inserts and commits, batches at 0.2x
    # of the same rows copied into a table with the service's indexes, and at ten times the
    # 487 lines/s batches reached when it was filed (PostgreSQL, a million lines).
    results.target(
        "ingest: single sitreps against raw insert + commit",
        ">= 0.1x",
        f"{ours_single / theirs_single:.3f}x",
        ours_single >= 0.1 * theirs_single,
    )
    results.target(
        f"ingest: batches against {bulk}",
        ">= 0.2x",
        f"{ours_batch / theirs_batch:.3f}x",
        ours_batch >= 0.2 * theirs_batch,
    )
    if raw.postgres:
        results.target(
            "ingest: batches against 487 lines/s (issue 11, before batches were sets)",
            ">= 10x",
            f"{ours_batch / 487:.1f}x",
            ours_batch >= 4870,
        )


def _crisis(client: Http, countries: list[str], what: str) -> int:
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    body = {
        "name": f"Benchmark {what} {stamp}",
        "kind": "other",
        "countries": countries,
        "started_on": "2024-01-01",
    }
    return int(orjson.loads(client.call("POST", f"{API}/crises", body, expect=201))["id"])


def _submit_all(port: int, token: str, bodies: list[dict[str, Any]]) -> list[float]:
    """Submits the sitreps one after the other on one connection; their latencies."""
    client = Http(port, token)
    seconds = []
    for body in bodies:
        started = time.perf_counter()
        client.call("POST", f"{API}/sitreps", body, expect=201)
        seconds.append(time.perf_counter() - started)
    return seconds


def p99(seconds: list[float]) -> float:
    """The 99th percentile; the largest of fewer than two (SQLite: a write waits for the
    whole batch, so one or two land during it)."""
    if len(seconds) < 2:
        return max(seconds)
    return statistics.quantiles(seconds, n=100, method="inclusive")[98]


def measure_writers(results: Results, env: dict[str, str], token: str, postgres: bool) -> None:
    """Writers against each other, on a server of two workers: throughput of 4 clients
    against 1, a one-line write while a 500-sitrep batch is written against the same write
    idle, and 50 writers at once."""
    print("writers (serve --workers 2)")
    port = load.free_port()
    log = Path(tempfile.mkdtemp(prefix="crisis-tracker-bench-writers-")) / "server.log"
    rng = random.Random(11)
    countries = [c for c in sorted(load.reference.countries()) if len(load.admin1_of(c)) >= 8]
    batch_countries, other_countries = countries[:10], countries[10:20]
    try:
        with load.server(env, port, 2, log):
            client = Http(port, token)
            # 1 client, then 4 at once, each with sitreps of its own weeks.
            crisis = _crisis(client, other_countries, "writers")
            per_client = 120
            bodies = ingest_sitreps(crisis, other_countries, per_client * 5, 0, rng)
            started = time.perf_counter()
            _submit_all(port, token, bodies[:per_client])
            one = per_client / (time.perf_counter() - started)
            groups = [bodies[per_client * (k + 1) : per_client * (k + 2)] for k in range(4)]
            started = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda g: _submit_all(port, token, g), groups))
            four = 4 * per_client / (time.perf_counter() - started)
            results.add(
                "writers",
                "single sitreps/s, 4 clients at once",
                f"{four:,.1f} sitreps/s",
                "1 client",
                f"{one:,.1f} sitreps/s",
                f"{four / one:.2f}x",
            )
            if postgres:
                results.target(
                    "write throughput, 4 clients against 1 (--workers 2)",
                    ">= 1.6x",
                    f"{four / one:.2f}x",
                    four >= 1.6 * one,
                )
            # A one-line write, idle and while a 500-sitrep batch is written.
            small = _crisis(client, other_countries, "one-line writes")
            lines = [
                {**s, "lines": s["lines"][:1]}
                for s in ingest_sitreps(small, other_countries, 400, 0, rng)
            ]
            idle = _submit_all(port, token, lines[:60])
            batch_crisis = _crisis(client, batch_countries, "batch")
            batch = ingest_sitreps(batch_crisis, batch_countries, 500, 0, rng)
            done = threading.Event()
            during: list[float] = []

            def write_batch() -> None:
                try:
                    Http(port, token).call("POST", f"{API}/sitreps/batch", {"sitreps": batch})
                finally:
                    done.set()

            sender = threading.Thread(target=write_batch)
            sender.start()
            writer = Http(port, token)
            remaining = iter(lines[60:])
            time.sleep(0.2)  # the batch is at work
            while not done.is_set():
                body = next(remaining)
                started = time.perf_counter()
                writer.call("POST", f"{API}/sitreps", body, expect=201)
                during.append(time.perf_counter() - started)
            sender.join()
            ratio = p99(during) / p99(idle)
            results.add(
                "writers",
                f"1-line write during a 500-sitrep batch, p99 ({len(during)} writes)",
                ms(p99(during)),
                "the same write idle, p99",
                ms(p99(idle)),
                f"{ratio:.1f}x",
            )
            results.target(
                "a 1-line write while a 500-sitrep batch is written, p99",
                "<= 10x idle",
                f"{ratio:.1f}x",
                ratio <= 10,
            )
            # 50 writers at once.
            crowd = _crisis(client, other_countries, "crowd")
            crowd_bodies = ingest_sitreps(crowd, other_countries, 50, 0, rng)
            barrier = threading.Barrier(50)
            statuses: list[int] = []

            def one_writer(body: dict[str, Any]) -> None:
                conn = http.client.HTTPConnection(HOST, port, timeout=300)
                barrier.wait()
                conn.request(
                    "POST",
                    f"{API}/sitreps",
                    body=orjson.dumps(body),
                    headers={**client.headers, "Content-Type": "application/json"},
                )
                response = conn.getresponse()
                response.read()
                statuses.append(response.status)
                conn.close()

            with ThreadPoolExecutor(50) as pool:
                list(pool.map(one_writer, crowd_bodies))
            errors = sum(1 for status in statuses if status >= 500)
            results.add(
                "writers",
                "50 writers at once: answers 5xx",
                str(errors),
                "answers",
                ", ".join(f"{s}: {statuses.count(s)}" for s in sorted(set(statuses))),
                "",
            )
            results.target("50 concurrent writers: answers of 5xx", "0", str(errors), errors == 0)
    finally:
        shutil.rmtree(log.parent, ignore_errors=True)


def measure_memory(results: Results, client: Http, pid: int, pages: int) -> None:
    print("memory")
    before, _ = rss_kb(pid)
    path = f"{API}/clusters/health/feed"
    cursor = None
    samples = []
    rows = 0
    for page in range(pages):
        params: dict[str, Any] = {"limit": 1000}
        if cursor is not None:
            params["since"] = cursor
        body = orjson.loads(client.get(path, **params))
        rows += len(body["items"])
        cursor = body["next_cursor"]
        if page % max(1, pages // 10) == 0:
            samples.append(rss_kb(pid)[0])
        if len(body["items"]) < 1000:
            break
    after, peak = rss_kb(pid)
    results.add(
        "memory",
        "server resident set after the benchmark",
        f"{after / 1024:,.0f} MB",
        "peak (VmHWM)",
        f"{peak / 1024:,.0f} MB",
        "",
    )
    results.add(
        "memory",
        f"feed traversal: {rows:,} lines in {page + 1} pages",
        f"RSS {samples[0] / 1024:,.0f} -> {after / 1024:,.0f} MB",
        "RSS every tenth of the way",
        ", ".join(f"{s / 1024:.0f}" for s in samples) + " MB",
        f"+{(after - samples[0]) / 1024:,.0f} MB",
    )
    results.note(f"server RSS before the traversal: {before / 1024:,.0f} MB")
    results.target(
        "memory: server resident set", "< 300 MB", f"{peak / 1024:,.0f} MB peak", peak < 300 * 1024
    )
    growth = after - samples[0]
    results.target(
        "memory: feed traversal",
        "constant",
        f"{growth / 1024:+,.0f} MB over {rows:,} lines",
        growth < 20 * 1024,
    )


def measure_dashboard(results: Results, port: int, token: str, country: str, runs: int) -> None:
    """Each dashboard page in headless Chromium: from navigation until the page says its
    numbers are in (``body[data-loaded="true"]``), with the browser's cache warm."""
    print("dashboard")
    chromium = Path("/usr/bin/chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        results.note("dashboard pages not timed: playwright is missing (pip install -e '.[bench]')")
        return
    if not chromium.exists():
        results.note("dashboard pages not timed: no /usr/bin/chromium (apt-get install chromium)")
        return
    base = f"http://{HOST}:{port}"
    flags = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-quic",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
    ]
    pages = {
        "overview": "/dashboard/",
        f"country ({country})": f"/dashboard/country?country={country}",
        "reporting completeness": "/dashboard/completeness",
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=flags)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(f"{base}/dashboard/sign-in")
        page.fill("#token", token)
        page.click("#sign-in button[type=submit]")
        page.wait_for_selector('body[data-loaded="true"]', timeout=300_000)
        for name, path in pages.items():

            def load(path: str = path) -> None:
                page.goto(base + path)
                page.wait_for_selector('body[data-loaded="true"]', timeout=300_000)

            seconds = timed(load, max(3, runs // 5), warmup=1)
            results.add("dashboard", f"{name} page, loaded with its numbers, p50",
                        ms(p50(seconds)), "", "", "")  # fmt: skip
        browser.close()


# --- the report --------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                cpu = row.split(":", 1)[1].strip()
                break
    memory = 0
    with contextlib.suppress(OSError):
        for row in Path("/proc/meminfo").read_text().splitlines():
            if row.startswith("MemTotal"):
                memory = int(row.split()[1]) // (1024 * 1024)
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}"
    )


def write_results(results: Results, url: str, database_info: str, seconds: float) -> None:
    key = f"{results.db}-{results.lines}"
    lines = [
        f"<!-- run {key} -->",
        f"## {results.db}, {results.lines:,} lines",
        "",
        f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {seconds:.0f} s. Machine: {machine()}.",
        f"Database: {database_info}.",
        "",
        "| section | figure | value | baseline | baseline value | ratio |",
        "|---|---|---|---|---|---|",
        *(
            f"| {f.section} | {f.name} | {f.value} | {f.baseline_name} | {f.baseline} | {f.ratio} |"
            for f in results.figures
        ),
        "",
        "| target | goal | measured | met |",
        "|---|---|---|---|",
        *(
            f"| {t.name} | {t.goal} | {t.measured} | {'yes' if t.met else '**no**'} |"
            for t in results.targets
        ),
        "",
        *(f"- {n}" for n in results.notes),
        f"<!-- end {key} -->",
    ]
    section = "\n".join(lines) + "\n"
    text = RESULTS.read_text() if RESULTS.exists() else RESULTS_HEADER
    start, end = f"<!-- run {key} -->", f"<!-- end {key} -->\n"
    if start in text:
        before, rest = text.split(start, 1)
        text = before + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)
    print(f"results written to {RESULTS.relative_to(ROOT)} ({key})")


RESULTS_HEADER = """# Benchmark results

Written by `python bench/run.py --lines N --db sqlite|postgres` (see bench/README.md): each
run replaces its own section. Ratios compare the service, through HTTP, with a raw baseline
measured in the same run on the same database.
"""


def database_info(raw: Raw) -> str:
    if raw.postgres:
        version = raw.rows("SHOW server_version")[0][0]
        size = raw.rows("SELECT pg_database_size(current_database())")[0][0]
        kind = f"PostgreSQL {version}"
    else:
        (path,) = [row[2] for row in raw.conn.execute("PRAGMA database_list") if row[1] == "main"]
        size = sum(p.stat().st_size for p in Path(path).parent.glob(Path(path).name + "*"))
        kind = "SQLite (WAL)"
    lines, live = raw.rows(
        "SELECT count(*), sum(CASE WHEN status = 'submitted' THEN 1 ELSE 0 END) FROM sitrep_lines"
    )[0]
    (cells,) = raw.rows("SELECT count(*) FROM totals_cells")[0]
    (sitreps,) = raw.rows("SELECT count(*) FROM sitreps")[0]
    return (
        f"{kind}, {size / 2**30:,.1f} GiB; {sitreps:,} sitreps, {lines:,} lines "
        f"({live:,} live), {cells:,} totals cells"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark crisis-tracker against raw baselines.")
    parser.add_argument("--lines", type=int, required=True, help="lines in the data set")
    parser.add_argument("--db", choices=("sqlite", "postgres"), required=True)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse the data set a previous run generated, if there is one",
    )
    parser.add_argument("--runs", type=int, default=30, help="timed requests per figure (30)")
    parser.add_argument("--singles", type=int, default=200, help="single sitreps to submit")
    parser.add_argument("--batches", type=int, default=10, help="batches to submit")
    parser.add_argument("--batch-size", type=int, default=100, help="sitreps per batch (100)")
    parser.add_argument(
        "--traverse", type=int, default=500, help="feed pages of 1,000 to traverse for memory (500)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    if args.db == "sqlite" and not Path(sys.executable).with_name("datasette").exists():
        parser.error("datasette is missing: pip install -e '.[bench]'")

    started = time.perf_counter()
    url = database(args.db, args.lines, args.reuse, args.seed)
    results = Results(args.db, args.lines)
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": url,
        "TRACKER_RATE_LIMIT_PER_MINUTE": "0",
        "TRACKER_MAX_BODY_BYTES": str(64 * 1024 * 1024),
    }
    token = load.new_user(env, f"bench-admin-{os.getpid()}-{int(time.time())}", "admin")
    port = load.free_port()
    raw = Raw(url)
    info = database_info(raw)
    print(f"database: {info}")
    log = Path(tempfile.mkdtemp(prefix="crisis-tracker-bench-")) / "server.log"
    try:
        with load.server(env, port, 1, log):
            pid = server_pid(port)
            client = Http(port, token)
            measure_floor(results, client, args.runs)
            country = measure_totals(results, raw, client, args.runs)
            measure_feeds(results, raw, client, args.runs, url, datasette=args.db == "sqlite")
            measure_dashboard(results, port, token, country, args.runs)
            measure_ingest(results, raw, client, args.singles, args.batches, args.batch_size)
            measure_memory(results, client, pid, args.traverse)
        measure_writers(results, env, token, postgres=args.db == "postgres")
    finally:
        raw.close()
        shutil.rmtree(log.parent, ignore_errors=True)
    print("targets")
    for t in results.targets:
        print(f"  [{'met' if t.met else 'MISSED'}] {t.name}: {t.measured} (goal {t.goal})")
    if not args.no_write:
        write_results(results, url, info, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
