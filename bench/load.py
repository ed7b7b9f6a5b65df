#!/usr/bin/env python3
"""Load test for crisis-tracker: field officers on bad links, coordinators, headquarters.

Creates a database of its own (a fresh PostgreSQL database on the local server, or an
SQLite file), migrates it with ``crisis-tracker db upgrade``, creates users with
``crisis-tracker users create``, starts ``crisis-tracker serve --workers N`` on a free
localhost port and, for a set time, runs concurrently:

- field officers submitting sitreps (single and in batches) with Idempotency-Keys, amending
  and withdrawing them; a share of their requests is cut off the way satellite links cut
  them (the connection closed mid-body, closed or reset right after the request was sent,
  or a client timeout too short to wait for the answer), and every write is retried with
  the same key and the same body until it gets an answer;
- cluster coordinators pulling their feeds with ``since`` cursors and applying every page;
- headquarters reading totals and lists.

Then it checks that every acknowledged write exists exactly once, that the totals equal a
recount from the sitreps' latest revisions (DOMAIN.md's rules, computed here in Python),
that every coordinator's applied feed equals the live lines, and that the database holds
no partial sitrep; prints requests served, statuses, latencies and throughput; and exits
non-zero when a check fails. Only standard library and the project's own dependencies are
used; only 127.0.0.1 is contacted. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import random
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.reference import catalog as reference  # noqa: E402

HOST = "127.0.0.1"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
API = "/api/v1"
COUNTRIES = ("SDN", "TCD", "HTI")
CRISES = {
    "SDN": ("Sudan conflict", "conflict"),
    "TCD": ("Chad: Sudanese refugee influx", "complex"),
    "HTI": ("Haiti: gang violence and displacement", "complex"),
}
SECTOR_INDICATORS = {
    "shelter": ("households_assisted", "shelter_kits"),
    "wash": ("water_points", "latrines"),
    "cccm": ("sites_managed", "idps_in_sites"),
    "cash": ("cash_usd", "transfers"),
    "health": ("consultations", "referrals"),
}
CLUSTER_SECTORS = {
    "cccm": ("cccm",),
    "shelter": ("shelter",),
    "wash": ("wash",),
    "health": ("health",),
    "cwg": ("cash",),
}
DIVISIONS = ("pcca", "prd", "hod")
PHASES = ("preparedness", "response", "recovery")
GROUP_BYS = ("", "sector", "division,phase", "crisis,admin1", "sector,division,phase,crisis,admin1")
FIRST_WEEK = date(2019, 1, 7)  # a Monday: periods are weeks from here to the current week
KEY_IN_USE = "urn:crisis-tracker:problem:idempotency-key-in-use"
MAX_ATTEMPTS = 60  # per write; a write still unanswered after these is "unresolved"
WRITE_DEADLINE = 90.0  # seconds a write keeps retrying


# --- measurements ------------------------------------------------------------------------


class Stats:
    """Every answer the service gave, by kind of request; every transport failure."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter[int]] = defaultdict(Counter)
        self.transport: Counter[str] = Counter()
        self.replayed: Counter[str] = Counter()
        self.unexpected: list[str] = []

    def answer(self, kind: str, status: int, seconds: float, replayed: bool) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            self.statuses[kind][status] += 1
            if replayed:
                self.replayed[kind] += 1

    def failure(self, what: str) -> None:
        with self.lock:
            self.transport[what] += 1

    def surprise(self, message: str) -> None:
        with self.lock:
            self.unexpected.append(message)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def problem_type(self) -> str | None:
        if not self.headers.get("content-type", "").startswith("application/problem+json"):
            return None
        with contextlib.suppress(ValueError, AttributeError):
            return str(self.json().get("type"))
        return None


class Dropped(Exception):
    """The client gave up on the request (deliberately or not): the answer is unknown."""


class Client:
    """One user's HTTP client: a keep-alive connection for ordinary requests, and fresh
    connections for requests whose link is cut."""

    def __init__(self, port: int, token: str, stats: Stats, rng: random.Random) -> None:
        self.port = port
        self.token = token
        self.stats = stats
        self.rng = rng
        self.conn: http.client.HTTPConnection | None = None

    def _headers(self, body: bytes | None, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        headers.update(extra or {})
        return headers

    def request(
        self,
        kind: str,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> Answer:
        """One attempt on the keep-alive connection; Dropped on any transport failure."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=self._headers(body, headers))
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = None
            self.stats.failure(f"unplanned {type(exc).__name__}")
            raise Dropped(str(exc)) from exc
        answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        if response.will_close:
            self.conn.close()
            self.conn = None
        self.stats.answer(
            kind,
            answer.status,
            time.perf_counter() - started,
            answer.headers.get("idempotent-replayed") == "true",
        )
        return answer

    def cut(
        self, kind: str, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> Answer:
        """One attempt over a link that fails: returns the answer if it came through
        anyway, else raises Dropped."""
        mode = self.rng.choice(("mid-body", "after-send", "reset", "short-timeout"))
        all_headers = self._headers(body, headers)
        if mode == "short-timeout":
            conn = http.client.HTTPConnection(
                HOST, self.port, timeout=self.rng.uniform(0.002, 0.15)
            )
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=all_headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.stats.failure("cut: client timeout")
                raise Dropped(mode) from exc
            finally:
                conn.close()
            answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
            self.stats.answer(
                kind,
                answer.status,
                time.perf_counter() - started,
                answer.headers.get("idempotent-replayed") == "true",
            )
            return answer
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in all_headers.items())
        head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        raw = head.encode("latin-1") + body
        try:
            with socket.create_connection((HOST, self.port), timeout=5) as sock:
                if mode == "mid-body":
                    sock.sendall(raw[: len(head) + len(body) // 2])
                else:
                    sock.sendall(raw)
                    time.sleep(self.rng.uniform(0, 0.03))
                if mode in ("reset", "mid-body") and self.rng.random() < 0.5:
                    # An abortive close: RST instead of FIN, as when a link dies.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.stats.failure(f"cut: {mode}")
        raise Dropped(mode)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def read(client: Client, kind: str, path: str) -> Answer | None:
    """A GET retried on transport failures and 503 (bounded)."""
    for attempt in range(20):
        try:
            answer = client.request(kind, "GET", path)
        except Dropped:
            time.sleep(min(0.05 * 2**attempt, 1.0))
            continue
        if answer.status in (429, 503):
            time.sleep(retry_delay(answer, client.rng, attempt))
            continue
        return answer
    return None


def retry_delay(answer: Answer, rng: random.Random, attempt: int) -> float:
    """Retry-After when the service gives one (bounded), else a jittered backoff."""
    with contextlib.suppress(KeyError, ValueError):
        return min(float(answer.headers["retry-after"]), 5.0) * rng.uniform(0.5, 1.0)
    return rng.uniform(0.01, min(0.05 * 2**attempt, 1.0))


def write(
    client: Client,
    kind: str,
    method: str,
    path: str,
    document: Any,
    *,
    cut_rate: float,
    if_match: str | None = None,
) -> tuple[str, Answer | None]:
    """A write with an Idempotency-Key, retried with the same key and the same bytes on
    every cut link, timeout, 503 and "key in use" until it has an answer. Returns the key
    and the answer (None: unresolved, the write may or may not have happened)."""
    key = str(uuid.uuid4())
    body = json.dumps(document).encode()
    headers = {"Idempotency-Key": key}
    if if_match is not None:
        headers["If-Match"] = if_match
    started = time.monotonic()
    for attempt in range(MAX_ATTEMPTS):
        if time.monotonic() - started > WRITE_DEADLINE:
            break
        try:
            if client.rng.random() < cut_rate:
                answer = client.cut(kind, method, path, body, headers)
            else:
                answer = client.request(kind, method, path, body, headers)
        except Dropped:
            time.sleep(client.rng.uniform(0, min(0.02 * 2**attempt, 0.5)))
            continue
        if answer.status in (429, 503) or (
            answer.status == 409 and answer.problem_type == KEY_IN_USE
        ):
            time.sleep(retry_delay(answer, client.rng, attempt))
            continue
        return key, answer
    return key, None


# --- realistic sitreps -------------------------------------------------------------------


def admin1_of(country: str) -> list[str]:
    return [a.code for a in reference.admin_areas_of(country)]


def admin2_of(admin1: str) -> list[str]:
    return [a.code for a in reference.children_of(admin1)]


def make_line(
    rng: random.Random,
    sector: str,
    division: str,
    phase: str,
    admin1: str | None,
    admin2: str | None,
) -> dict[str, Any]:
    reached = rng.choice((0, rng.randint(1, 200), rng.randint(200, 6000), rng.randint(5000, 40000)))
    line: dict[str, Any] = {
        "sector": sector,
        "division": division,
        "phase": phase,
        "admin1": admin1,
        "admin2": admin2,
        "people_reached": reached,
    }
    if rng.random() < 0.8:
        line["people_reached_new"] = rng.randint(0, reached)
    if rng.random() < 0.7:
        line["people_targeted"] = reached + rng.randint(0, reached // 2 + 10)
    if rng.random() < 0.6:
        women = rng.randint(0, reached)
        men = rng.randint(0, reached - women)
        girls = rng.randint(0, reached - women - men)
        line["disaggregation"] = {
            "women": women,
            "men": men,
            "girls": girls,
            "boys": reached - women - men - girls,
        }
    if rng.random() < 0.3:
        line["persons_with_disabilities"] = rng.randint(0, reached // 10)
    indicators: dict[str, Any] = {}
    for name in rng.sample(SECTOR_INDICATORS[sector], rng.randint(0, 2)):
        if name == "cash_usd":
            indicators[name] = f"{rng.randint(0, 500_000)}.{rng.randint(0, 99):02d}"
        else:
            indicators[name] = rng.randint(0, max(1, reached // 5))
    line["indicators"] = indicators
    return line


@dataclass(frozen=True)
class Cell:
    """What one sitrep of one officer covers: a week, an admin1 area, with or without the
    crisis. Cells of one officer never overlap, and officers share no admin1 area, so no
    two sitreps of the run compete for a slot unless a test means them to."""

    week: int
    admin1: str
    with_crisis: bool

    @property
    def start(self) -> date:
        return FIRST_WEEK + timedelta(weeks=self.week)


@dataclass
class Owned:
    """A sitrep as its officer believes it to be, from the answers it was given."""

    id: int
    tag: str
    cell: Cell
    document: dict[str, Any]
    revision: int
    status: str
    etag: str
    amend_key: str | None = None
    uncertain: bool = False  # a change to it went unanswered


class Officer:
    def __init__(
        self,
        index: int,
        country: str,
        admin1s: list[str],
        crisis_id: int,
        client: Client,
        cut_rate: float,
    ) -> None:
        self.index = index
        self.country = country
        self.crisis_id = crisis_id
        self.client = client
        self.rng = client.rng
        self.cut_rate = cut_rate
        weeks = (date.today() - FIRST_WEEK).days // 7
        cells = [
            Cell(week, admin1, with_crisis)
            for week in range(weeks)
            for admin1 in admin1s
            for with_crisis in (True, False)
        ]
        self.rng.shuffle(cells)
        self.cells = iter(cells)
        self.owned: dict[int, Owned] = {}
        self.live: list[int] = []
        self.acknowledged: dict[str, int] = {}  # tag -> sitrep id
        self.unresolved_tags: list[str] = []  # submissions never answered
        self.unresolved_changes: set[int] = set()
        self.refused: list[str] = []
        self.duplicates_refused = 0
        self.exhausted = False

    def sitrep(self, cell: Cell, tag: str) -> dict[str, Any]:
        rng = self.rng
        admin2s = admin2_of(cell.admin1)
        locations: list[tuple[str | None, str | None]] = [(cell.admin1, None)]
        locations += [(cell.admin1, a2) for a2 in rng.sample(admin2s, min(3, len(admin2s)))]
        phases = PHASES if cell.with_crisis else ("preparedness",)
        slots = list(itertools.product(SECTOR_INDICATORS, DIVISIONS, phases, locations))
        chosen = rng.sample(slots, rng.randint(2, 12))
        lines = [make_line(rng, s, d, p, a1, a2) for s, d, p, (a1, a2) in chosen]
        start = cell.start
        return {
            "country": self.country,
            "crisis_id": self.crisis_id if cell.with_crisis else None,
            "period_start": start.isoformat(),
            "period_end": (start + timedelta(days=6)).isoformat(),
            "narrative": f"Week of {start}: activities in {cell.admin1}. [ref:{tag}]",
            "lines": lines,
        }

    def next_cell(self) -> Cell | None:
        cell = next(self.cells, None)
        if cell is None:
            self.exhausted = True
        return cell

    def _accept(
        self, tag: str, cell: Cell, document: dict[str, Any], item: dict[str, Any], etag: str
    ) -> None:
        sitrep_id = int(item["id"])
        self.acknowledged[tag] = sitrep_id
        self.owned[sitrep_id] = Owned(
            sitrep_id, tag, cell, document, int(item["revision"]), item["status"], etag
        )
        self.live.append(sitrep_id)

    def submit(self) -> None:
        cell = self.next_cell()
        if cell is None:
            return
        tag = f"o{self.index}-{uuid.uuid4().hex[:12]}"
        document = self.sitrep(cell, tag)
        _key, answer = write(
            self.client, "submit", "POST", f"{API}/sitreps", document, cut_rate=self.cut_rate
        )
        if answer is None:
            self.unresolved_tags.append(tag)
        elif answer.status == 201:
            self._accept(tag, cell, document, answer.json(), answer.headers.get("etag", ""))
        else:
            self.refused.append(tag)
            self.client.stats.surprise(f"submit {tag}: {answer.status} {answer.body[:300]!r}")

    def submit_batch(self) -> None:
        cells = [c for c in (self.next_cell() for _ in range(self.rng.randint(2, 8))) if c]
        if not cells:
            return
        batch = uuid.uuid4().hex[:12]
        tags = [f"o{self.index}-{batch}-{i}" for i in range(len(cells))]
        documents = [self.sitrep(cell, tag) for cell, tag in zip(cells, tags, strict=True)]
        _key, answer = write(
            self.client,
            "batch",
            "POST",
            f"{API}/sitreps/batch",
            {"sitreps": documents},
            cut_rate=self.cut_rate,
        )
        if answer is None:
            self.unresolved_tags.extend(tags)
            return
        if answer.status != 200:
            self.client.stats.surprise(f"batch {batch}: {answer.status} {answer.body[:300]!r}")
            self.refused.extend(tags)
            return
        for result, cell, tag, document in zip(
            answer.json()["results"], cells, tags, documents, strict=True
        ):
            if result["status"] == 201:
                sitrep = result["sitrep"]
                etag = f'"{sitrep["id"]}-{sitrep["revision"]}-{sitrep["status"]}"'
                self._accept(tag, cell, document, sitrep, etag)
            else:
                self.refused.append(tag)
                self.client.stats.surprise(f"batch item {tag}: {result}")

    def _pick_live(self) -> Owned | None:
        candidates = [i for i in self.live if i not in self.unresolved_changes]
        return self.owned[self.rng.choice(candidates)] if candidates else None

    def amend(self) -> None:
        sitrep = self._pick_live()
        if sitrep is None:
            return
        current = read(self.client, "get", f"{API}/sitreps/{sitrep.id}")
        if current is None or current.status != 200:
            self.client.stats.surprise(f"get {sitrep.id}: {current and current.status}")
            return
        etag = current.headers["etag"]
        if etag != sitrep.etag:
            self.client.stats.surprise(f"sitrep {sitrep.id}: ETag {etag}, expected {sitrep.etag}")
        document = json.loads(json.dumps(sitrep.document))
        for line in document["lines"]:
            if self.rng.random() < 0.6:
                # A corrected figure: recompute the dependent ones.
                reached = max(0, line["people_reached"] + self.rng.randint(-100, 300))
                line["people_reached"] = reached
                if "people_reached_new" in line:
                    line["people_reached_new"] = min(line["people_reached_new"], reached)
                if "people_targeted" in line:
                    line["people_targeted"] = max(line["people_targeted"], reached)
                if "disaggregation" in line:
                    d = line["disaggregation"]
                    d["boys"] = 0
                    d["women"] = min(d["women"], reached)
                    d["men"] = min(d["men"], reached - d["women"])
                    d["girls"] = min(d["girls"], reached - d["women"] - d["men"])
                    d["boys"] = reached - d["women"] - d["men"] - d["girls"]
                if "persons_with_disabilities" in line:
                    line["persons_with_disabilities"] = min(
                        line["persons_with_disabilities"], reached
                    )
        if len(document["lines"]) > 1 and self.rng.random() < 0.3:
            document["lines"].pop(self.rng.randrange(len(document["lines"])))
        amend_tag = uuid.uuid4().hex[:8]
        document["narrative"] = (
            f"{document['narrative'].split(' {amended')[0]} {{amended {amend_tag}}}"
        )
        _key, answer = write(
            self.client,
            "amend",
            "PUT",
            f"{API}/sitreps/{sitrep.id}",
            document,
            cut_rate=self.cut_rate,
            if_match=etag,
        )
        if answer is None:
            self.unresolved_changes.add(sitrep.id)
            sitrep.uncertain = True
        elif answer.status == 200:
            item = answer.json()
            if item["revision"] != sitrep.revision + 1:
                expected = sitrep.revision + 1
                self.client.stats.surprise(
                    f"amend {sitrep.id}: revision {item['revision']}, expected {expected}"
                )
            sitrep.revision = int(item["revision"])
            sitrep.document = document
            sitrep.etag = answer.headers.get("etag", "")
            sitrep.amend_key = amend_tag
        else:
            self.client.stats.surprise(f"amend {sitrep.id}: {answer.status} {answer.body[:300]!r}")

    def withdraw(self) -> None:
        sitrep = self._pick_live()
        if sitrep is None:
            return
        _key, answer = write(
            self.client,
            "withdraw",
            "DELETE",
            f"{API}/sitreps/{sitrep.id}",
            {"reason": "Reported under the wrong week; resubmitted."},
            cut_rate=self.cut_rate,
            if_match=sitrep.etag,
        )
        if answer is None:
            self.unresolved_changes.add(sitrep.id)
            sitrep.uncertain = True
        elif answer.status == 200:
            sitrep.status = "withdrawn"
            sitrep.etag = answer.headers.get("etag", "")
            self.live.remove(sitrep.id)
        else:
            self.client.stats.surprise(
                f"withdraw {sitrep.id}: {answer.status} {answer.body[:300]!r}"
            )

    def duplicate(self) -> None:
        """Submits an acknowledged live sitrep again under a new key, as an officer who
        forgot it was sent: the service must refuse it (409 naming the first)."""
        sitrep = self._pick_live()
        if sitrep is None:
            return
        _key, answer = write(
            self.client, "duplicate", "POST", f"{API}/sitreps", sitrep.document, cut_rate=0
        )
        if (
            answer is not None
            and answer.status == 409
            and answer.json().get("conflicting_sitrep_id") == sitrep.id
        ):
            self.duplicates_refused += 1
            return
        self.client.stats.surprise(
            f"duplicate of {sitrep.id}: {answer and answer.status} {answer and answer.body[:300]!r}"
        )

    def browse(self) -> None:
        if self.rng.random() < 0.5:
            read(self.client, "list", f"{API}/sitreps?country={self.country}&limit=20")
        else:
            read(self.client, "totals", f"{API}/totals?country={self.country}&group_by=sector")

    def run(self, until: float) -> None:
        actions: list[tuple[float, Callable[[], None]]] = [
            (0.45, self.submit),
            (0.10, self.submit_batch),
            (0.22, self.amend),
            (0.08, self.withdraw),
            (0.03, self.duplicate),
            (0.12, self.browse),
        ]
        weights = [w for w, _ in actions]
        while time.monotonic() < until:
            action = self.rng.choices([a for _, a in actions], weights)[0]
            if self.exhausted and action in (self.submit, self.submit_batch):
                action = self.amend
            action()


class Coordinator:
    """Pulls a cluster's feed incrementally and applies it: upsert live lines, delete
    withdrawn ones."""

    def __init__(self, cluster: str, client: Client, page: int) -> None:
        self.cluster = cluster
        self.client = client
        self.page = page
        self.cursor: str | None = None
        self.state: dict[int, dict[str, Any]] = {}
        self.pulls = 0
        self.failed = False

    def catch_up(self) -> None:
        while True:
            query = {"limit": self.page, **({"since": self.cursor} if self.cursor else {})}
            answer = read(
                self.client, "feed", f"{API}/clusters/{self.cluster}/feed?{urlencode(query)}"
            )
            if answer is None or answer.status != 200:
                self.failed = True
                self.client.stats.surprise(f"feed {self.cluster}: {answer and answer.status}")
                return
            page = answer.json()
            for item in page["items"]:
                if item["status"] == "withdrawn":
                    self.state.pop(item["line_id"], None)
                else:
                    self.state[item["line_id"]] = item
            self.cursor = page["next_cursor"]
            self.pulls += 1
            if len(page["items"]) < self.page:
                return

    def run(self, until: float) -> None:
        while time.monotonic() < until:
            self.catch_up()
            time.sleep(self.client.rng.uniform(0.05, 0.5))


class Headquarters:
    def __init__(self, client: Client) -> None:
        self.client = client

    def run(self, until: float) -> None:
        rng = self.client.rng
        while time.monotonic() < until:
            query: dict[str, Any] = {}
            group_by = rng.choice(GROUP_BYS)
            if group_by:
                query["group_by"] = group_by
            if rng.random() < 0.5:
                query["country"] = ",".join(rng.sample(COUNTRIES, rng.randint(1, 3)))
            if rng.random() < 0.5:
                query["year"] = rng.randint(FIRST_WEEK.year, date.today().year)
            if rng.random() < 0.15:
                read(self.client, "list", f"{API}/sitreps?limit=50")
            elif rng.random() < 0.05:
                read(self.client, "readyz", "/readyz")
            else:
                read(self.client, "totals", f"{API}/totals?{urlencode(query)}")


# --- setup -------------------------------------------------------------------------------


def cli_command() -> list[str]:
    beside = Path(sys.executable).with_name("crisis-tracker")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("crisis-tracker")
    if found:
        return [found]
    return [sys.executable, "-c", "from app.cli import main; main()"]


def cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [*cli_command(), *args], env=env, capture_output=True, text=True, check=False, cwd=ROOT
    )
    if result.returncode != 0:
        raise SystemExit(f"crisis-tracker {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def new_user(env: dict[str, str], name: str, role: str, *scope: str) -> str:
    return cli(env, "users", "create", name, "--role", role, *scope).strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def database(kind: str, server_url: str, keep: bool) -> Iterator[str]:
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="crisis-tracker-load-"))
        try:
            yield f"sqlite:///{folder / 'crisis-tracker.db'}"
        finally:
            if keep:
                print(f"kept {folder}")
            else:
                shutil.rmtree(folder, ignore_errors=True)
        return
    server = make_url(server_url)
    if server.host not in (None, "127.0.0.1", "localhost", "::1"):
        raise SystemExit("the load test only talks to a database server on this machine")
    name = f"crisis_tracker_load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        if keep:
            print(f"kept database {name}")
        else:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def server(env: dict[str, str], port: int, workers: int, log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *cli_command(),
                "serve",
                "--host",
                HOST,
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server exited:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection(HOST, port, timeout=2)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
                conn.close()
            if time.monotonic() > deadline:
                raise SystemExit("the server did not become ready within 60 s")
            time.sleep(0.2)
        yield
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def create_crises(client: Client) -> dict[str, int]:
    ids = {}
    for country, (name, kind) in CRISES.items():
        _key, answer = write(
            client,
            "crisis",
            "POST",
            f"{API}/crises",
            {"name": name, "kind": kind, "countries": [country], "started_on": "2019-01-01"},
            cut_rate=0,
        )
        if answer is None or answer.status != 201:
            raise SystemExit(f"could not create a crisis: {answer and answer.body!r}")
        ids[country] = int(answer.json()["id"])
    return ids


# --- checks ------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Snapshot:
    """Every sitrep as the API lists it (latest revision)."""

    sitreps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def live(self) -> list[dict[str, Any]]:
        return [s for s in self.sitreps if s["status"] == "submitted"]


def snapshot(client: Client) -> Snapshot:
    snap = Snapshot()
    cursor: str | None = None
    while True:
        query = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        answer = read(client, "check", f"{API}/sitreps?{urlencode(query)}")
        if answer is None or answer.status != 200:
            raise SystemExit(f"could not list sitreps: {answer and answer.status}")
        page = answer.json()
        snap.sitreps.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return snap


def tag_of(sitrep: dict[str, Any]) -> str | None:
    narrative = sitrep.get("narrative") or ""
    if "[ref:" not in narrative:
        return None
    return narrative.split("[ref:", 1)[1].split("]", 1)[0]


def check_writes(officers: list[Officer], snap: Snapshot) -> list[Check]:
    by_tag: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for sitrep in snap.sitreps:
        by_tag[tag_of(sitrep)].append(sitrep)
    acknowledged = {t: i for o in officers for t, i in o.acknowledged.items()}
    unresolved = {t for o in officers for t in o.unresolved_tags}
    owned = {i: s for o in officers for i, s in o.owned.items()}
    problems: list[str] = []
    for tag, sitrep_id in acknowledged.items():
        found = by_tag.get(tag, [])
        if [s["id"] for s in found] != [sitrep_id]:
            problems.append(
                f"{tag}: acknowledged as {sitrep_id}, stored as {[s['id'] for s in found]}"
            )
    for tag, found in by_tag.items():
        if tag is None:
            problems.append(f"{len(found)} sitreps without a tag")
        elif len(found) > 1:
            problems.append(f"{tag}: {len(found)} sitreps")
        elif tag not in acknowledged and tag not in unresolved:
            problems.append(f"{tag}: stored, but refused or never sent")
    extra = sum(1 for t in by_tag if t in unresolved)
    # Sitreps per (country, crisis, period, admin1): one cell is submitted at most once.
    cells: Counter[tuple[Any, ...]] = Counter()
    for sitrep in snap.sitreps:
        admin1s = sorted({line["admin1"] for line in sitrep["lines"]} or {None}, key=str)
        cells[(sitrep["country"], sitrep["crisis_id"], sitrep["period_start"], *admin1s)] += 1
    doubled = [cell for cell, n in cells.items() if n > 1]
    # Each acknowledged change is there once: the revision and status the officer was told.
    by_id = {s["id"]: s for s in snap.sitreps}
    changes: list[str] = []
    for sitrep_id, mine in owned.items():
        stored = by_id.get(sitrep_id)
        if stored is None or mine.uncertain:
            continue
        if (stored["revision"], stored["status"]) != (mine.revision, mine.status):
            changes.append(
                f"{sitrep_id}: stored r{stored['revision']} {stored['status']}, "
                f"acknowledged r{mine.revision} {mine.status}"
            )
        elif mine.amend_key and f"{{amended {mine.amend_key}}}" not in (stored["narrative"] or ""):
            changes.append(f"{sitrep_id}: the acknowledged amendment is not the latest revision")
        elif len(stored["lines"]) != len(mine.document["lines"]):
            changes.append(f"{sitrep_id}: {len(stored['lines'])} lines stored")
    amended = sum(1 for s in owned.values() if s.revision > 1)
    withdrawn = sum(1 for s in owned.values() if s.status == "withdrawn")
    return [
        Check(
            "every acknowledged sitrep stored exactly once",
            not problems,
            f"{len(acknowledged)} acknowledged, {len(snap.sitreps)} stored"
            + (
                f", {extra} of {len(unresolved)} unanswered submissions landed"
                if unresolved
                else ""
            )
            + (f"; {problems[:5]}" if problems else ""),
        ),
        Check(
            "one sitrep per (country, crisis, period, admin1)",
            not doubled,
            f"{len(cells)} cells" + (f"; doubled: {doubled[:5]}" if doubled else ""),
        ),
        Check(
            "every acknowledged amendment and withdrawal applied once",
            not changes,
            f"{amended} sitreps amended, {withdrawn} withdrawn"
            + (f"; {changes[:5]}" if changes else ""),
        ),
    ]


def recount(snap: Snapshot, group_by: str) -> dict[tuple[Any, ...], dict[str, int]]:
    """DOMAIN.md's counting rules over the live sitreps' latest revisions."""
    groups = [g for g in ("sector", "division", "phase", "crisis", "admin1") if g in group_by]
    # group -> location -> sector -> sum of people_reached_new
    reach: dict[tuple[Any, ...], dict[tuple[Any, ...], Counter[str]]] = defaultdict(
        lambda: defaultdict(Counter)
    )
    rows: dict[tuple[Any, ...], dict[str, int]] = defaultdict(Counter)
    for sitrep in snap.live:
        year = date.fromisoformat(sitrep["period_end"]).year
        for line in sitrep["lines"]:
            values = {**line, "crisis": sitrep["crisis_id"]}
            key = (sitrep["country"], year, *(values[g] for g in groups))
            reach[key][(line["admin1"], line["admin2"])][line["sector"]] += line[
                "people_reached_new"
            ]
            row = rows[key]
            row["people_reached"] += line["people_reached_new"]
            row["people_reached_in_periods"] += line["people_reached"]
            row["people_targeted"] += line["people_targeted"] or 0
            row["lines"] += 1
    for key, locations in reach.items():
        rows[key]["people_reached_unique"] = sum(max(s.values()) for s in locations.values())
    return {k: dict(v) for k, v in rows.items()}


def check_totals(client: Client, snap: Snapshot) -> Check:
    mismatches: list[str] = []
    compared = 0
    for group_by in GROUP_BYS:
        groups = [g for g in ("sector", "division", "phase", "crisis", "admin1") if g in group_by]
        path = f"{API}/totals" + (f"?group_by={group_by}" if group_by else "")
        answer = read(client, "check", path)
        if answer is None or answer.status != 200:
            mismatches.append(f"{path}: {answer and answer.status}")
            continue
        figures = (
            "people_reached",
            "people_reached_unique",
            "people_reached_in_periods",
            "people_targeted",
            "lines",
        )
        served = {
            (
                row["country"],
                row["year"],
                *(row["crisis_id" if g == "crisis" else g] for g in groups),
            ): {f: row[f] for f in figures}
            for row in answer.json()["rows"]
        }
        expected = recount(snap, group_by)
        compared += len(expected)
        for key in sorted(set(served) | set(expected), key=str):
            if served.get(key) != expected.get(key):
                mismatches.append(
                    f"group_by={group_by!r} {key}: {served.get(key)} != {expected.get(key)}"
                )
    return Check(
        "totals equal a from-scratch recount",
        not mismatches,
        f"{compared} rows over {len(GROUP_BYS)} groupings"
        + (f"; {mismatches[:5]}" if mismatches else ""),
    )


FEED_FIELDS = (
    "sitrep_id",
    "revision",
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
    "people_targeted",
    "disaggregation",
    "persons_with_disabilities",
    "indicators",
)


def check_feeds(coordinators: list[Coordinator], snap: Snapshot) -> Check:
    problems: list[str] = []
    lines = 0
    for coordinator in coordinators:
        coordinator.catch_up()
        sectors = CLUSTER_SECTORS[coordinator.cluster]
        live = {
            line["id"]: {
                **line,
                "sitrep_id": sitrep["id"],
                "revision": sitrep["revision"],
                "country": sitrep["country"],
                "crisis_id": sitrep["crisis_id"],
                "period_start": sitrep["period_start"],
                "period_end": sitrep["period_end"],
            }
            for sitrep in snap.live
            for line in sitrep["lines"]
            if line["sector"] in sectors
        }
        lines += len(live)
        if coordinator.failed:
            problems.append(f"{coordinator.cluster}: a pull failed")
        missing = live.keys() - coordinator.state.keys()
        stale = coordinator.state.keys() - live.keys()
        differ = [
            i
            for i in live.keys() & coordinator.state.keys()
            if any(_same(live[i][f]) != _same(coordinator.state[i][f]) for f in FEED_FIELDS)
        ]
        if missing or stale or differ:
            problems.append(
                f"{coordinator.cluster}: {len(missing)} missing, {len(stale)} not live, "
                f"{len(differ)} differ (e.g. {sorted(missing | stale | set(differ))[:3]})"
            )
    pulls = sum(c.pulls for c in coordinators)
    return Check(
        "every feed consumer holds exactly the live lines",
        not problems,
        f"{len(coordinators)} consumers, {pulls} pages applied, {lines} live lines"
        + (f"; {problems}" if problems else ""),
    )


def _same(value: Any) -> Any:
    # Decimal indicators are JSON strings in one place and may be numbers in another.
    if isinstance(value, dict):
        return {k: _same(v) for k, v in value.items()}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def check_database(url: str, snap: Snapshot) -> Check:
    """Straight from the tables: no sitrep without its revisions or lines, no line of a
    withdrawn sitrep still live, no line of another revision among the live ones."""
    engine = create_engine(url)
    queries = {
        "sitreps whose revisions are not exactly 1..revision": """
            SELECT count(*) FROM sitreps s WHERE s.revision <> (
              SELECT count(*) FROM sitrep_revisions r WHERE r.sitrep_id = s.id)
            OR NOT EXISTS (SELECT 1 FROM sitrep_revisions r
                           WHERE r.sitrep_id = s.id AND r.revision = s.revision)""",
        "sitreps without lines": """
            SELECT count(*) FROM sitreps s
            WHERE NOT EXISTS (SELECT 1 FROM sitrep_lines l WHERE l.sitrep_id = s.id)""",
        "lines without a sitrep": """
            SELECT count(*) FROM sitrep_lines l
            WHERE NOT EXISTS (SELECT 1 FROM sitreps s WHERE s.id = l.sitrep_id)""",
        "live lines of withdrawn sitreps or older revisions": """
            SELECT count(*) FROM sitrep_lines l JOIN sitreps s ON s.id = l.sitrep_id
            WHERE l.status = 'submitted'
              AND (s.status <> 'submitted' OR l.revision <> s.revision)""",
    }
    problems = []
    with engine.connect() as connection:
        for name, sql in queries.items():
            found = connection.execute(text(sql)).scalar_one()
            if found:
                problems.append(f"{found} {name}")
        stored = connection.execute(text("SELECT count(*) FROM sitreps")).scalar_one()
        live_lines = connection.execute(
            text("SELECT count(*) FROM sitrep_lines WHERE status = 'submitted'")
        ).scalar_one()
    engine.dispose()
    if stored != len(snap.sitreps):
        problems.append(f"{stored} sitreps in the database, {len(snap.sitreps)} listed")
    listed_lines = sum(len(s["lines"]) for s in snap.live)
    if live_lines != listed_lines:
        problems.append(f"{live_lines} live lines in the database, {listed_lines} listed")
    return Check(
        "no partial sitrep in the database",
        not problems,
        f"{stored} sitreps, {live_lines} live lines" + (f"; {problems}" if problems else ""),
    )


# --- report ------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(
    stats: Stats, elapsed: float, checks: list[Check], officers: list[Officer], log: Path
) -> None:
    served = sum(sum(c.values()) for c in stats.statuses.values())
    print(f"\nrequests served: {served} in {elapsed:.1f} s = {served / elapsed:.1f}/s")
    by_status: Counter[int] = Counter()
    for counter in stats.statuses.values():
        by_status.update(counter)
    print("by status: " + ", ".join(f"{s}: {n}" for s, n in sorted(by_status.items())))
    errors = {s: n for s, n in by_status.items() if s >= 400}
    print(
        "errors by status: " + (", ".join(f"{s}: {n}" for s, n in sorted(errors.items())) or "none")
    )
    print(
        "client-side (no answer): "
        + (", ".join(f"{k}: {n}" for k, n in sorted(stats.transport.items())) or "none")
    )
    print(
        f"\n{'kind':<10}{'answers':>9}{'/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'replayed':>10}  statuses"
    )
    for kind in sorted(stats.latencies):
        lat = stats.latencies[kind]
        statuses = " ".join(f"{s}:{n}" for s, n in sorted(stats.statuses[kind].items()))
        print(
            f"{kind:<10}{len(lat):>9}{len(lat) / elapsed:>8.1f}{percentile(lat, 50) * 1000:>9.1f}"
            f"{percentile(lat, 99) * 1000:>9.1f}{max(lat) * 1000:>9.1f}"
            f"{stats.replayed[kind]:>10}  {statuses}"
        )
    acknowledged = sum(len(o.acknowledged) for o in officers)
    unresolved = sum(len(o.unresolved_tags) for o in officers)
    changes_unresolved = sum(len(o.unresolved_changes) for o in officers)
    print(
        f"\nsitreps acknowledged: {acknowledged} ({acknowledged / elapsed:.1f}/s); "
        f"unanswered submissions: {unresolved}; unanswered changes: {changes_unresolved}; "
        f"duplicate submissions refused with 409: {sum(o.duplicates_refused for o in officers)}"
    )
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"load generator CPU: {cpu.ru_utime + cpu.ru_stime:.1f} s on {os.cpu_count()} CPUs; "
        f"load average now {os.getloadavg()[0]:.1f}"
    )
    log_text = log.read_text(errors="replace")
    print(
        f"server log: {log_text.count('Traceback')} tracebacks, "
        f"{log_text.count('database is locked')} 'database is locked'"
    )
    if stats.unexpected:
        print(f"\nunexpected answers ({len(stats.unexpected)}), first ones:")
        for message in stats.unexpected[:10]:
            print(f"  {message}")
    print("\nchecks:")
    for check in checks:
        print(f"  [{'PASS' if check.ok else 'FAIL'}] {check.name}: {check.detail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("TRACKER_BENCH_POSTGRES", DEFAULT_POSTGRES),
        help="a PostgreSQL server on this machine; a database is created on it and dropped",
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=4, help="server worker processes")
    parser.add_argument("--field", type=int, default=9, help="field officers")
    parser.add_argument("--coordinators", type=int, default=5)
    parser.add_argument("--hq", type=int, default=2)
    parser.add_argument(
        "--cut-rate", type=float, default=0.15, help="share of write attempts whose link is cut"
    )
    parser.add_argument("--feed-page", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=0,
        help="TRACKER_RATE_LIMIT_PER_MINUTE for the server (0: off)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and server log")
    args = parser.parse_args()

    with database(args.db, args.pg_url, args.keep) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
        env["TRACKER_DATABASE_URL"] = url
        # The per-token rate limit would measure itself, not the service: off unless asked.
        env["TRACKER_RATE_LIMIT_PER_MINUTE"] = str(args.rate_limit)
        print(f"database: {make_url(url).render_as_string(hide_password=True)}")
        cli(env, "db", "upgrade")
        stats = Stats()
        hq_token = new_user(env, "bench-hq", "hq")
        officers_tokens = []
        per_country: dict[str, int] = Counter(COUNTRIES[i % 3] for i in range(args.field))
        seen: Counter[str] = Counter()
        for i in range(args.field):
            country = COUNTRIES[i % len(COUNTRIES)]
            areas = admin1_of(country)
            share = [a for n, a in enumerate(areas) if n % per_country[country] == seen[country]]
            seen[country] += 1
            token = new_user(env, f"bench-field-{i}", "field", "--country", country)
            officers_tokens.append((i, country, share, token))
        clusters = list(CLUSTER_SECTORS)
        coordinator_tokens = []
        for i in range(args.coordinators):
            cluster = clusters[i % len(clusters)]
            token = new_user(env, f"bench-coord-{i}", "coordinator", "--cluster", cluster)
            coordinator_tokens.append((cluster, token))
        log = Path(tempfile.mkdtemp(prefix="crisis-tracker-load-log-")) / "server.log"
        port = free_port()
        print(f"server: crisis-tracker serve --workers {args.workers} on {HOST}:{port} (log {log})")
        with server(env, port, args.workers, log):
            rng = random.Random(args.seed)
            hq_client = Client(port, hq_token, Stats(), random.Random(rng.random()))
            crisis_ids = create_crises(hq_client)
            officers = [
                Officer(
                    i,
                    country,
                    share,
                    crisis_ids[country],
                    Client(port, token, stats, random.Random(rng.random())),
                    args.cut_rate,
                )
                for i, country, share, token in officers_tokens
            ]
            coordinators = [
                Coordinator(
                    cluster, Client(port, token, stats, random.Random(rng.random())), args.feed_page
                )
                for cluster, token in coordinator_tokens
            ]
            hqs = [
                Headquarters(Client(port, hq_token, stats, random.Random(rng.random())))
                for _ in range(args.hq)
            ]
            print(
                f"load: {args.field} field officers (cut rate {args.cut_rate:.0%}), "
                f"{args.coordinators} coordinators, {args.hq} hq readers for {args.seconds:.0f} s"
            )
            started = time.monotonic()
            until = started + args.seconds
            actors: list[Officer | Coordinator | Headquarters] = [*officers, *coordinators, *hqs]
            threads = [threading.Thread(target=a.run, args=(until,), daemon=True) for a in actors]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=args.seconds + WRITE_DEADLINE * 3)
            elapsed = time.monotonic() - started
            if any(t.is_alive() for t in threads):
                print("some actors did not finish in time")
            print(f"load done in {elapsed:.1f} s; checking")
            check_client = Client(port, hq_token, Stats(), random.Random(0))
            snap = snapshot(check_client)
            checks = check_writes(officers, snap)
            checks.append(check_totals(check_client, snap))
            checks.append(check_feeds(coordinators, snap))
            checks.append(check_database(url, snap))
            statuses = Counter[int]()
            for counter in stats.statuses.values():
                statuses.update(counter)
            fives = {s: n for s, n in statuses.items() if s >= 500 and s != 503}
            checks.append(
                Check(
                    "no 5xx other than 503",
                    not fives,
                    f"{sum(statuses.values())} answers" + (f"; {fives}" if fives else ""),
                )
            )
            checks.append(
                Check(
                    "no unexpected answer",
                    not stats.unexpected,
                    f"{len(stats.unexpected)} unexpected",
                )
            )
            for actor in (*officers, *coordinators, *hqs):
                actor.client.close()
        report(stats, elapsed, checks, officers, log)
        if args.keep:
            print(f"kept server log {log}")
        else:
            shutil.rmtree(log.parent, ignore_errors=True)
    return 0 if all(c.ok for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
