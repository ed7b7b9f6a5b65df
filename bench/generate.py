#!/usr/bin/env python3
"""Generates a realistic crisis-tracker data set and bulk-loads it into a migrated database.

    python bench/generate.py --lines 1000000 --db postgres
    python bench/generate.py --lines 1000000 --db sqlite [--url sqlite:///path.db] [--seed 1]

The data set is what ten years of reporting would leave in the database: about 200 country
offices (the real countries and p-codes of ``app.reference``; countries without p-codes report
country-wide lines), several crises per country (some spanning neighbours), weekly and monthly
sitreps of every sector, division and MCOF phase at admin1, admin2 and country-wide locations,
``people_reached_new`` that behaves like "first time this calendar year", disaggregation that
adds up exactly, sector indicators, backlogs submitted at once, amendments (several revisions,
lines corrected, dropped and added) and withdrawals (some followed by a corrected resubmission).

It writes exactly the rows the service would have written had every sitrep been submitted,
amended and withdrawn through it, in the same order: ``users`` (one hq user, a field user per
country office) and ``user_countries``, ``crises`` and ``crisis_countries``, ``sitreps``,
``sitrep_revisions`` (each revision's lines as the API shows them, with line ids),
``sitrep_lines`` (current state of every line; ``feed_seq`` in write order) and the ``feed``
counter; ids continue the database's own sequences. What a write stores is the service's own
definition, not a copy: each body line is read by the service's schema (``LineIn``) and
turned into its columns by ``app.sitreps.rules``; the sitrep row, the lines a revision keeps,
adds and drops, a withdrawal and the revision's documents come from ``app.sitreps.stored``;
the columns from the models; the chains' figures and the totals summaries from the
service's rebuild (``app.totals.service.rebuild_statements``). The generator itself decides
only what is reported, when, and the ids and feed numbers the database would hand out.

The one-sitrep-per-slot rule holds by construction: each reporting stream owns its admin1
areas within its (country, crisis), and its periods follow one another. Audit events and API
tokens are not written (create tokens with ``crisis-tracker users token <name>``).

Rows are streamed in chunks (memory is bounded by the amendment window, not the data set):
PostgreSQL gets ``COPY`` (psycopg ``cursor.copy``), SQLite one transaction of ``executemany``
with bulk-load PRAGMAs; a writer thread loads one chunk while the next is generated.
"""

from __future__ import annotations

import argparse
import calendar
import heapq
import json
import math
import operator
import os
import queue
import random
import resource
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import orjson
import psycopg

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.reference import catalog as reference  # noqa: E402
from app.sectors.catalog import SECTORS  # noqa: E402
from app.sitreps import rules, stored  # noqa: E402
from app.sitreps.models import Sitrep, SitrepLine, SitrepRevision, SitrepStatus  # noqa: E402
from app.sitreps.schemas import LineIn  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
OUT_DIR = ROOT / "bench" / "out"

SECTOR_CODES: tuple[str, ...] = tuple(SECTORS)
DIVISIONS: tuple[str, ...] = tuple(reference.DIVISIONS)
PHASES: tuple[str, ...] = tuple(reference.PHASES)
KINDS = ("conflict", "natural-disaster", "epidemic", "complex", "other")
# Places nobody reports from.
UNINHABITED = frozenset({"ATA", "BVT", "HMD", "ATF", "IOT", "SGS", "UMI", "PCN", "CCK", "CXR"})

DAY = 86_400_000_000  # microseconds
HOUR = 3_600_000_000
MINUTE = 60_000_000
EPOCH = datetime(1970, 1, 1)
EPOCH_ORDINAL = EPOCH.toordinal()


def day_us(d: date) -> int:
    """Midnight UTC of a date, in microseconds since the epoch."""
    return (d.toordinal() - EPOCH_ORDINAL) * DAY


def default_end(today: date | None = None) -> date:
    """The last day of the last calendar year that ended at least 100 days ago, so that
    every submission, amendment and withdrawal of the data set lies in the past."""
    today = today or date.today()
    return date((today - timedelta(days=100)).year - 1, 12, 31)


# --- configuration and plan ------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    lines: int
    seed: int = 1
    countries: int = 200
    years: int = 10
    end: date = field(default_factory=default_end)
    amend_rate: float = 0.06  # sitreps amended at least once
    withdraw_rate: float = 0.02  # sitreps withdrawn
    resubmit_rate: float = 0.5  # withdrawn sitreps whose period is then submitted again
    skip_rate: float = 0.02  # periods an office does not report
    backlog_rate: float = 0.004  # periods after which an office goes offline for weeks
    chunk_lines: int = 10_000
    per_sitrep: float | None = None  # mean lines per sitrep aimed at (None: by size)

    @property
    def start(self) -> date:
        try:
            first = self.end.replace(year=self.end.year - self.years)
        except ValueError:  # 29 February
            first = self.end.replace(year=self.end.year - self.years, day=28)
        return first + timedelta(days=1)


@dataclass(frozen=True)
class Starts:
    """The ids the database hands out next, and the feed counter's value."""

    user: int = 1
    crisis: int = 1
    sitrep: int = 1
    revision: int = 1
    line: int = 1
    feed: int = 0


@dataclass
class UserPlan:
    id: int
    name: str
    role: str
    created_at: int
    countries: tuple[str, ...]


@dataclass
class CrisisPlan:
    id: int
    name: str
    kind: str
    started_on: date
    ends_on: date | None
    glide: str | None
    scale_up: bool
    created_at: int
    created_by_id: int
    countries: tuple[str, ...]


class Slot:
    """One (sector, division, phase, location) a stream may report."""

    __slots__ = ("admin1", "admin2", "base", "division", "key", "phase", "sector", "weight")

    def __init__(
        self,
        sector: str,
        division: str,
        phase: str,
        admin1: str | None,
        admin2: str | None,
        weight: float,
        base: float,
    ) -> None:
        self.sector = sector
        self.division = division
        self.phase = phase
        self.admin1 = admin1
        self.admin2 = admin2
        self.key = "|".join((sector, division, phase, admin1 or "", admin2 or ""))
        self.weight = weight
        self.base = base


class Stream:
    """A country office's reporting on one crisis (or on no crisis) for a group of admin1
    areas it alone covers, weekly or monthly, over the crisis's life."""

    __slots__ = (
        "age_start",
        "count",
        "country",
        "crisis",
        "first",
        "grid",
        "last_at",
        "monthly",
        "name",
        "offline_until",
        "state_n",
        "state_year",
        "user_id",
    )

    def __init__(
        self,
        country: str,
        crisis: CrisisPlan | None,
        monthly: bool,
        first: int,
        count: int,
        grid: list[Slot],
        user_id: int,
        name: str,
        age_start: int,
    ) -> None:
        self.country = country
        self.crisis = crisis
        self.monthly = monthly
        self.first = first  # a Monday's ordinal, or a month index (year * 12 + month - 1)
        self.count = count
        self.grid = grid
        self.user_id = user_id
        self.name = name
        self.age_start = age_start  # day_us of the crisis start (for its phase mix)
        self.state_year = [0] * len(grid)  # year of the slot's last report
        self.state_n = [0] * len(grid)  # reports of the slot in that year
        self.last_at = 0
        self.offline_until = 0

    def period(self, index: int) -> tuple[date, date]:
        if self.monthly:
            year, month0 = divmod(self.first + index, 12)
            last = calendar.monthrange(year, month0 + 1)[1]
            return date(year, month0 + 1, 1), date(year, month0 + 1, last)
        monday = date.fromordinal(self.first + 7 * index)
        return monday, monday + timedelta(days=6)


def periods_between(start: date, end: date, *, monthly: bool) -> tuple[int, int]:
    """(first, count) of the whole weeks (Monday to Sunday) or calendar months in [start, end]."""
    if monthly:
        first = start.year * 12 + start.month - 1 + (start.day != 1)
        last_month = end.year * 12 + end.month - 1
        if end.day != calendar.monthrange(end.year, end.month)[1]:
            last_month -= 1
        return first, max(0, last_month - first + 1)
    monday = start + timedelta(days=(7 - start.weekday()) % 7)
    count = (end - monday).days + 1
    return monday.toordinal(), max(0, count // 7)


@dataclass
class Plan:
    config: Config
    starts: Starts
    users: list[UserPlan]
    crises: list[CrisisPlan]
    streams: list[Stream]
    countries: list[str]

    @property
    def periods(self) -> int:
        return sum(s.count for s in self.streams)


# Sector weights by kind of crisis, and (division, phase) affinities.
SECTOR_WEIGHT: dict[str | None, dict[str, float]] = {
    "conflict": {"shelter": 3, "wash": 3, "cccm": 3, "cash": 2, "health": 3},
    "natural-disaster": {"shelter": 4, "wash": 3, "cccm": 2, "cash": 2, "health": 1.5},
    "epidemic": {"shelter": 0.5, "wash": 4, "cccm": 1, "cash": 1, "health": 6},
    "complex": {"shelter": 3, "wash": 3, "cccm": 3, "cash": 2, "health": 3},
    "other": {"shelter": 2, "wash": 2, "cccm": 1, "cash": 3, "health": 2},
    None: {"shelter": 2, "wash": 2, "cccm": 1, "cash": 2, "health": 2},
}
DIVISION_PHASE_WEIGHT: dict[bool, dict[tuple[str, str], float]] = {
    True: {  # a crisis
        ("hod", "response"): 10,
        ("hod", "recovery"): 2,
        ("hod", "preparedness"): 0.7,
        ("prd", "recovery"): 6,
        ("prd", "response"): 1.5,
        ("prd", "preparedness"): 0.4,
        ("pcca", "preparedness"): 2,
        ("pcca", "response"): 1,
        ("pcca", "recovery"): 1.2,
    },
    False: {  # no crisis: preparedness and recovery work
        ("hod", "response"): 1,
        ("hod", "recovery"): 0.6,
        ("hod", "preparedness"): 1.5,
        ("prd", "recovery"): 5,
        ("prd", "response"): 0.3,
        ("prd", "preparedness"): 1,
        ("pcca", "preparedness"): 10,
        ("pcca", "response"): 0.5,
        ("pcca", "recovery"): 2,
    },
}
SECTOR_SCALE = {"shelter": 0.7, "wash": 1.3, "cccm": 1.0, "cash": 0.5, "health": 1.5}
PHASE_SCALE = {"preparedness": 0.35, "response": 1.0, "recovery": 0.6}
HAZARDS = {
    "natural-disaster": (
        ("EQ", "earthquake"),
        ("FL", "floods"),
        ("TC", "tropical cyclone"),
        ("DR", "drought"),
        ("VO", "volcanic eruption"),
        ("LS", "landslides"),
        ("ST", "storms"),
    ),
    "epidemic": (("EP", "cholera outbreak"), ("EP", "epidemic"), ("EP", "mpox outbreak")),
    "conflict": (("CE", "conflict"), ("CE", "armed violence"), ("CE", "displacement crisis")),
    "complex": (("CE", "complex emergency"), ("CE", "regional displacement")),
    "other": (("OT", "migrant flows"), ("OT", "economic crisis")),
}


def lines_per_sitrep(lines: int) -> float:
    """The mean lines per sitrep aimed at: a few in a small data set, about fifteen at
    millions of lines (more when the plan has too few periods for the lines asked for)."""
    return min(30.0, max(3.0, 5 * math.log10(max(lines, 1)) - 20))


def build_plan(config: Config, starts: Starts) -> Plan:
    """Countries, users, crises and the reporting streams that will carry ``config.lines``."""
    if config.lines < 1 or config.countries < 1 or config.years < 1:
        raise ValueError("--lines, --countries and --years must be at least 1")
    rng = random.Random(f"plan-{config.seed}")
    span_start, span_end = config.start, config.end
    tracker_start = day_us(span_start) - 30 * DAY

    # Countries: every one with p-codes first, then others, in a seeded order.
    all_countries = reference.countries()
    areas = reference.admin_areas()
    with_pcodes = sorted({a.country for a in areas.values() if a.level == 1} & set(all_countries))
    without = sorted(set(all_countries) - set(with_pcodes) - UNINHABITED)
    rng.shuffle(with_pcodes)
    rng.shuffle(without)
    wanted = min(config.countries, len(with_pcodes) + len(without))
    share = len(with_pcodes) / (len(with_pcodes) + len(without))
    n_with = min(len(with_pcodes), max(1, round(wanted * max(share, 0.78))))
    n_without = min(len(without), wanted - n_with)
    n_with = wanted - n_without
    countries = sorted(with_pcodes[:n_with] + without[:n_without])

    users = [UserPlan(starts.user, "bench-hq", "hq", tracker_start, ())]
    field_user: dict[str, int] = {}
    for i, code in enumerate(countries, start=1):
        user = UserPlan(
            starts.user + i, f"field-{code.lower()}", "field", tracker_start + i * 1000, (code,)
        )
        users.append(user)
        field_user[code] = user.id
    hq_id = users[0].id

    # Crises: two to four per country, some spanning neighbours of the same region.
    by_region: dict[str | None, list[str]] = {}
    for code in countries:
        by_region.setdefault(all_countries[code].region, []).append(code)
    drafts: list[dict[str, Any]] = []
    span_days = (span_end - span_start).days
    for code in countries:
        for _ in range(2 + (rng.random() < 0.5) + (rng.random() < 0.25)):
            kind = rng.choices(KINDS, weights=(4, 4, 1.5, 2.5, 1))[0]
            if rng.random() < 0.25:  # protracted: began before the tracker
                started = span_start - timedelta(days=rng.randint(0, 8 * 365))
            else:
                started = span_start + timedelta(days=rng.randint(0, max(0, span_days - 60)))
            ends: date | None = None
            if rng.random() < 0.6:
                ends = started + timedelta(days=rng.randint(300, 6 * 365))
            members = [code]
            if rng.random() < 0.15:
                neighbours = [c for c in by_region[all_countries[code].region] if c != code]
                members += rng.sample(neighbours, min(len(neighbours), rng.randint(1, 2)))
            created = max(day_us(started), tracker_start) + rng.randint(2 * HOUR, 5 * DAY)
            drafts.append(
                {
                    "kind": kind,
                    "started": started,
                    "ends": ends,
                    "countries": tuple(sorted(members)),
                    "created": created,
                    "home": code,
                }
            )
    drafts.sort(key=lambda d: (d["created"], d["home"]))
    crises: list[CrisisPlan] = []
    glide_numbers: dict[int, int] = {}
    for i, d in enumerate(drafts):
        hazard, label = rng.choice(HAZARDS[d["kind"]])
        home = d["home"]
        glide = None
        if d["kind"] in ("natural-disaster", "epidemic") or rng.random() < 0.3:
            year = d["started"].year
            glide_numbers[year] = glide_numbers.get(year, 0) + rng.randint(1, 40)
            glide = f"{hazard}-{year}-{glide_numbers[year]:06d}-{home}"
        where = all_countries[home].name
        if len(d["countries"]) > 1:
            where = f"{where} and neighbouring countries"
        crises.append(
            CrisisPlan(
                id=starts.crisis + i,
                name=f"{where}: {label} {d['started'].year}"[:200],
                kind=d["kind"],
                started_on=d["started"],
                ends_on=d["ends"],
                glide=glide,
                scale_up=rng.random() < 0.1,
                created_at=d["created"],
                created_by_id=hq_id,
                countries=d["countries"],
            )
        )

    # Candidate streams: per (country, crisis) one per group of admin1 areas, plus a
    # preparedness stream per country outside any crisis.
    candidates: dict[str, list[tuple[CrisisPlan | None, list[str], bool, bool, int, int]]] = {}
    for crisis_or_none in [None, *crises]:
        for code in countries if crisis_or_none is None else crisis_or_none.countries:
            if crisis_or_none is None:
                window = (span_start, span_end)
            else:
                window = (
                    max(crisis_or_none.started_on, span_start),
                    min(crisis_or_none.ends_on or span_end, span_end),
                )
            admin1 = [a.code for a in reference.children_of(code)]
            rng.shuffle(admin1)
            groups = 1 if len(admin1) <= 3 or crisis_or_none is None else rng.randint(1, 3)
            for g in range(groups):
                weekly_share = 0.2 if crisis_or_none is None else 0.55
                monthly = rng.random() >= weekly_share
                first, count = periods_between(*window, monthly=monthly)
                if count:
                    candidates.setdefault(code, []).append(
                        (crisis_or_none, admin1[g::groups], g == 0, monthly, first, count)
                    )
    everything = sum(c[5] for cs in candidates.values() for c in cs)
    target = config.lines / (config.per_sitrep or lines_per_sitrep(config.lines))
    # Round robin over the countries until the periods can carry the lines.
    order = list(candidates)
    rng.shuffle(order)
    for code in order:
        rng.shuffle(candidates[code])
    chosen: list[tuple[str, tuple[CrisisPlan | None, list[str], bool, bool, int, int]]] = []
    total = 0
    depth = 0
    while total < min(target, everything):
        for code in order:
            if depth < len(candidates[code]) and total < target:
                chosen.append((code, candidates[code][depth]))
                total += candidates[code][depth][5]
        depth += 1
    per_sitrep = config.lines / max(1, total)

    streams: list[Stream] = []
    for code, (crisis, admin1, country_wide, monthly, first, count) in chosen:
        grid_size = max(1.0, 2 * per_sitrep * rng.uniform(0.6, 1.6))
        grid = _grid(rng, code, crisis, admin1, country_wide, monthly, grid_size)
        age_start = day_us(crisis.started_on if crisis else span_start)
        cadence = "monthly" if monthly else "weekly"
        about = f"{crisis.name}" if crisis else "preparedness and recovery"
        streams.append(
            Stream(
                code,
                crisis,
                monthly,
                first,
                count,
                grid,
                field_user[code],
                f"{all_countries[code].name}, {cadence} report ({about})",
                age_start,
            )
        )
    return Plan(config, starts, users, crises, streams, countries)


def _grid(
    rng: random.Random,
    country: str,
    crisis: CrisisPlan | None,
    admin1: list[str],
    country_wide: bool,
    monthly: bool,
    size: float,
) -> list[Slot]:
    """The slots a stream may report: activities times locations, about ``size`` of them."""
    # Locations: admin1 areas, admin2 areas beneath them, and country-wide.
    available = len(admin1) + sum(len(reference.children_of(a)) for a in admin1[:40])
    n_locations = max(1, min(round(math.sqrt(size * rng.uniform(0.5, 2.0))), 24))
    locations: list[tuple[str | None, str | None]] = []
    if country_wide and (not admin1 or rng.random() < 0.3):
        locations.append((None, None))
    hot = admin1[: max(1, min(len(admin1), rng.randint(1, 6)))]
    tries = 0
    while admin1 and len(locations) < min(n_locations, available + 1) and tries < 200:
        tries += 1
        a1 = rng.choice(hot) if rng.random() < 0.7 else rng.choice(admin1)
        children = reference.children_of(a1)
        location = (a1, rng.choice(children).code if children and rng.random() < 0.55 else None)
        if location not in locations:
            locations.append(location)
    # Activities: weighted sample without replacement of (sector, division, phase).
    n_activities = max(1, min(45, round(size / len(locations))))
    sector_weight = SECTOR_WEIGHT[crisis.kind if crisis else None]
    dp_weight = DIVISION_PHASE_WEIGHT[crisis is not None]
    activities = [
        (s, d, p, sector_weight[s] * dp_weight[(d, p)])
        for s in SECTOR_CODES
        for d in DIVISIONS
        for p in PHASES
    ]
    keyed = sorted(activities, key=lambda a: math.log(1.0 - rng.random()) / a[3])
    chosen = sorted(keyed[-n_activities:], key=lambda a: activities.index(a))
    grid: list[Slot] = []
    cadence = 2.5 if monthly else 1.0
    for admin1_code, admin2_code in locations:
        level = 8000.0 if admin1_code is None else 1500.0 if admin2_code is None else 350.0
        place = rng.lognormvariate(0, 0.6)
        for sector, division, phase, weight in chosen:
            base = level * place * SECTOR_SCALE[sector] * PHASE_SCALE[phase] * cadence
            base *= rng.lognormvariate(0, 0.5)
            grid.append(
                Slot(sector, division, phase, admin1_code, admin2_code, weight * place, base)
            )
    return grid


# --- the simulation: every write, in order ---------------------------------------------

# A line as a request body carries it, in a tuple:
# (grid index, key, sector, division, phase, admin1, admin2, people_reached,
#  people_reached_new as sent (None: left out), people_targeted, women, men, girls, boys,
#  persons_with_disabilities, indicators)
Line = tuple[
    int,
    str,
    str,
    str,
    str,
    str | None,
    str | None,
    int,
    int | None,
    int | None,
    int | None,
    int | None,
    int | None,
    int | None,
    int | None,
    dict[str, int | str],
]


def line_body(line: Line) -> dict[str, Any]:
    """The line as POST /api/v1/sitreps takes it."""
    body: dict[str, Any] = {
        "sector": line[2],
        "division": line[3],
        "phase": line[4],
        "admin1": line[5],
        "admin2": line[6],
        "people_reached": line[7],
    }
    if line[8] is not None:
        body["people_reached_new"] = line[8]
    if line[9] is not None:
        body["people_targeted"] = line[9]
    if line[10] is not None:
        body["disaggregation"] = {
            "women": line[10],
            "men": line[11],
            "girls": line[12],
            "boys": line[13],
        }
    if line[14] is not None:
        body["persons_with_disabilities"] = line[14]
    if line[15]:
        body["indicators"] = dict(line[15])
    return body


class SimSitrep:
    __slots__ = (
        "country",
        "crisis_id",
        "events_left",
        "id",
        "keys_ever",
        "lines",
        "narrative",
        "period_end",
        "period_start",
        "resubmission",
        "stream",
        "user_id",
        "year",
    )

    def __init__(
        self,
        sitrep_id: int,
        stream: Stream,
        period: tuple[date, date],
        lines: list[Line],
        narrative: str,
        resubmission: bool,
    ) -> None:
        self.id = sitrep_id
        self.stream = stream
        self.country = stream.country
        self.crisis_id = stream.crisis.id if stream.crisis else None
        self.period_start, self.period_end = period
        self.year = self.period_end.year
        self.user_id = stream.user_id
        self.lines = lines
        self.keys_ever = {line[1] for line in lines}
        self.narrative = narrative
        self.resubmission = resubmission
        self.events_left = 0


@dataclass(slots=True)
class Write:
    """One write the service would have served: a submission, an amendment (the whole
    corrected body) or a withdrawal. ``last``: the sitrep changes no more after it."""

    kind: str  # "submit", "amend" or "withdraw"
    sitrep: SimSitrep
    at: int  # microseconds since the epoch, UTC
    lines: list[Line] | None = None
    narrative: str | None = None
    reason: str | None = None
    last: bool = False

    def body(self) -> dict[str, Any]:
        """The request body of a submission or an amendment."""
        assert self.lines is not None
        s = self.sitrep
        return {
            "country": s.country,
            "crisis_id": s.crisis_id,
            "period_start": s.period_start.isoformat(),
            "period_end": s.period_end.isoformat(),
            "narrative": self.narrative,
            "lines": [line_body(line) for line in self.lines],
        }


WITHDRAW_REASONS = (
    "Entered twice.",
    "Wrong reporting period.",
    "Figures belong to another office.",
    "Submitted before validation by the programme manager.",
    "Wrong crisis selected.",
)
_PERIOD, _AMEND, _WITHDRAW, _RESUBMIT = 0, 1, 2, 3


class Simulation:
    """Plays ten years of reporting: yields every write in the order the service would
    have committed them. Deterministic for a plan (and its seed)."""

    def __init__(self, plan: Plan, now: int | None = None) -> None:
        """``now`` (microseconds since the epoch; default: today): no write is later."""
        self.plan = plan
        self.config = plan.config
        self.rng = random.Random(f"writes-{plan.config.seed}")
        self.lines_left = plan.config.lines
        self.capacity = sum(s.count * len(s.grid) for s in plan.streams)
        self.next_sitrep = plan.starts.sitrep
        cap = day_us(date.today()) - HOUR if now is None else now
        self.cap = cap
        self.heap: list[tuple[int, int, int, Any]] = []
        self.seq = 0
        self.clock = 0
        for stream in plan.streams:  # a plan can be played again, to the same writes
            stream.state_year = [0] * len(stream.grid)
            stream.state_n = [0] * len(stream.grid)
            stream.last_at = stream.offline_until = 0

    def _push(self, at: int, kind: int, payload: Any) -> None:
        at = min(max(at, self.clock), self.cap)
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, kind, payload))

    def _submission_time(self, stream: Stream, index: int) -> int:
        r = self.rng.random
        end = stream.period(index)[1]
        at = day_us(end) + DAY + int(min(20.0, self.rng.expovariate(1 / 2.5)) * DAY)
        at += int((6 + 12 * r()) * HOUR)
        if stream.offline_until and at < stream.offline_until:
            at = stream.offline_until + int(r() * 30 * MINUTE)
        elif r() < self.config.backlog_rate:
            # The office goes offline; the next weeks are submitted together afterwards.
            stream.offline_until = at + int((14 + 28 * r()) * DAY)
        at = max(at, stream.last_at + int((1 + 59 * r()) * MINUTE))
        stream.last_at = at
        return at

    def writes(self) -> Iterator[Write]:
        for stream in self.plan.streams:
            self._push(self._submission_time(stream, 0), _PERIOD, (stream, 0))
        while self.heap:
            at, _seq, kind, payload = heapq.heappop(self.heap)
            # Writes are strictly ordered in time, a few milliseconds apart at least.
            at = max(at, self.clock + 5000)
            self.clock = at
            if kind == _PERIOD:
                yield from self._period(at, *payload)
            elif kind == _AMEND:
                yield self._amend(at, payload)
            elif kind == _WITHDRAW:
                yield self._withdraw(at, payload)
            else:
                yield from self._resubmit(at, payload)

    def _period(self, at: int, stream: Stream, index: int) -> Iterator[Write]:
        grid = len(stream.grid)
        capacity_before = self.capacity
        self.capacity -= grid
        if self.lines_left <= 0:
            return
        if index + 1 < stream.count:
            self._push(self._submission_time(stream, index + 1), _PERIOD, (stream, index + 1))
        r = self.rng.random
        if r() < self.config.skip_rate and self.lines_left <= self.capacity:
            return
        fill = self.lines_left / max(1, capacity_before)
        k = round(grid * fill * (0.6 + 0.8 * r()))
        # Enough for the lines asked for to fit in the periods that remain.
        k = max(1, k, self.lines_left - self.capacity)
        k = min(grid, k, self.lines_left)
        period = stream.period(index)
        lines = self._choose(stream, period, k, at)
        sitrep = self._new_sitrep(stream, period, lines, resubmission=False)
        yield self._submitted(sitrep, at)

    def _new_sitrep(
        self, stream: Stream, period: tuple[date, date], lines: list[Line], *, resubmission: bool
    ) -> SimSitrep:
        n_locations = len({(line[5], line[6]) for line in lines})
        sectors = sorted({line[2] for line in lines})
        first = next((line for line in lines if line[5] is not None), None)
        focus = ""
        if first is not None:
            areas = reference.admin_areas()
            focus = f" Most activity in {areas[first[6] or first[5] or ''].name}."
        narrative = (
            f"{stream.name}, {period[0].isoformat()} to {period[1].isoformat()}: "
            f"{len(lines)} activities in {n_locations} location(s), sectors "
            f"{', '.join(sectors)}.{focus}"
        )
        if resubmission:
            narrative = "Resubmitted with corrected figures. " + narrative
        self.lines_left -= len(lines)
        sitrep = SimSitrep(self.next_sitrep, stream, period, lines, narrative, resubmission)
        self.next_sitrep += 1
        return sitrep

    def _submitted(self, sitrep: SimSitrep, at: int) -> Write:
        """Schedules the sitrep's amendments and withdrawal; returns its submission."""
        r = self.rng.random
        events = at
        if r() < self.config.amend_rate:
            amendments = 1 + (r() < 0.3) + (r() < 0.1)
            times = sorted(at + HOUR + int(r() * 21 * DAY) for _ in range(amendments))
            for t in times:
                self._push(t, _AMEND, sitrep)
                sitrep.events_left += 1
            events = times[-1]
        if r() < self.config.withdraw_rate:
            self._push(events + HOUR + int(r() * 14 * DAY), _WITHDRAW, sitrep)
            sitrep.events_left += 1
        return Write(
            "submit",
            sitrep,
            at,
            lines=sitrep.lines,
            narrative=sitrep.narrative,
            last=sitrep.events_left == 0,
        )

    def _choose(self, stream: Stream, period: tuple[date, date], k: int, at: int) -> list[Line]:
        """k slots of the stream, the usual ones more often, weighted by the phase mix of
        the crisis's age; their lines, in grid order."""
        rng = self.rng
        r = rng.random
        age = max(0.0, (day_us(period[0]) - stream.age_start) / (365.0 * DAY))
        factor = {
            "response": 0.3 + 1.4 * math.exp(-age / 2.5) if stream.crisis else 1.0,
            "recovery": 0.3 + min(1.2, age / 3) if stream.crisis else 1.0,
            "preparedness": 0.6 if stream.crisis else 1.0,
        }
        log = math.log
        grid = stream.grid
        picked: Sequence[int]
        if k >= len(grid):
            picked = range(len(grid))
        else:
            keys = sorted(
                (log(1.0 - r()) / (slot.weight * factor[slot.phase]), i)
                for i, slot in enumerate(grid)
            )
            picked = sorted(i for _key, i in keys[-k:])
        year = period[1].year
        intensity = 1.0
        if stream.crisis:
            intensity = 0.5 + 1.5 * math.exp(-age / 3)
        return [self._line(stream, i, year, intensity * factor[grid[i].phase]) for i in picked]

    def _line(
        self, stream: Stream, index: int, year: int, scale: float, fresh: bool = True
    ) -> Line:
        rng = self.rng
        r = rng.random
        slot = stream.grid[index]
        reached = 0 if r() < 0.01 else int(slot.base * scale * math.exp(rng.gauss(0, 0.3)))
        reached = min(reached, 50_000_000)
        if not fresh:
            new = int(reached * (0.3 + 0.7 * r()))
        elif stream.state_year[index] != year:
            stream.state_year[index] = year
            stream.state_n[index] = 1
            new = reached if r() < 0.3 else int(reached * (0.75 + 0.25 * r()))
        else:
            n = stream.state_n[index]
            stream.state_n[index] = n + 1
            new = int(reached * 0.5 * r() / (1 + 0.5 * n))
        sent_new: int | None = new
        if new == reached and r() < 0.5:
            sent_new = None  # "when absent it equals people_reached"
        return _figures(rng, slot, reached, sent_new, index)

    def _amend(self, at: int, sitrep: SimSitrep) -> Write:
        rng = self.rng
        r = rng.random
        stream = sitrep.stream
        lines = list(sitrep.lines)
        for j in rng.sample(range(len(lines)), min(len(lines), 1 + (r() < 0.4) + (r() < 0.2))):
            lines[j] = _corrected(rng, stream.grid[lines[j][0]], lines[j])
        if len(lines) > 1 and r() < 0.3:
            lines.pop(rng.randrange(len(lines)))  # a line reported by mistake
        if r() < 0.35:
            present = {line[0] for line in lines}
            missing = [i for i in range(len(stream.grid)) if i not in present]
            if missing:
                i = rng.choice(missing)
                key = stream.grid[i].key
                if key in sitrep.keys_ever or self.lines_left > 0:
                    if key not in sitrep.keys_ever:
                        self.lines_left -= 1
                        sitrep.keys_ever.add(key)
                    lines.append(self._line(stream, i, sitrep.year, 1.0, fresh=False))
                    lines.sort(key=lambda line: line[0])
        sitrep.lines = lines
        sitrep.events_left -= 1
        sitrep.narrative = sitrep.narrative.split(" Amended")[0] + (
            f" Amended {_stamp(at)}: corrected figures."
        )
        return Write(
            "amend",
            sitrep,
            at,
            lines=lines,
            narrative=sitrep.narrative,
            last=sitrep.events_left == 0,
        )

    def _withdraw(self, at: int, sitrep: SimSitrep) -> Write:
        r = self.rng.random
        sitrep.events_left -= 1
        if not sitrep.resubmission and r() < self.config.resubmit_rate:
            self._push(at + 10 * MINUTE + int(r() * 2 * DAY), _RESUBMIT, sitrep)
        return Write(
            "withdraw",
            sitrep,
            at,
            reason=self.rng.choice(WITHDRAW_REASONS),
            last=sitrep.events_left == 0,
        )

    def _resubmit(self, at: int, old: SimSitrep) -> Iterator[Write]:
        if self.lines_left <= 0:
            return
        rng = self.rng
        stream = old.stream
        lines = [
            _corrected(rng, stream.grid[line[0]], line) if rng.random() < 0.5 else line
            for line in old.lines[: self.lines_left]
        ]
        sitrep = self._new_sitrep(
            stream, (old.period_start, old.period_end), lines, resubmission=True
        )
        yield self._submitted(sitrep, at)


def _stamp(at: int) -> str:
    return (EPOCH + timedelta(microseconds=at)).date().isoformat()


def _figures(
    rng: random.Random, slot: Slot, reached: int, sent_new: int | None, index: int
) -> Line:
    """A line's other figures, consistent with people_reached."""
    r = rng.random
    targeted = int(reached * (0.8 + r())) if r() < 0.7 else None
    women = men = girls = boys = None
    if r() < 0.8:
        adults = round(reached * (0.4 + 0.25 * r()))
        female = 0.45 + 0.13 * r()
        women = round(adults * female)
        men = adults - women
        girls = round((reached - adults) * female)
        boys = reached - adults - girls
    disabled = int(reached * (0.01 + 0.14 * r())) if r() < 0.35 else None
    indicators: dict[str, int | str] = {}
    if r() < 0.75:
        sector = slot.sector
        if sector == "shelter":
            if r() < 0.7:
                indicators["households_assisted"] = int(reached / (4 + 2 * r()))
            if r() < 0.5:
                indicators["shelter_kits"] = int(reached / (3 + 5 * r()))
        elif sector == "wash":
            if r() < 0.6:
                indicators["latrines"] = int(reached / (20 + 40 * r()))
            if r() < 0.6:
                indicators["water_points"] = int(reached / (200 + 600 * r()))
        elif sector == "cccm":
            if r() < 0.6:
                indicators["idps_in_sites"] = int(reached * (0.8 + 0.7 * r()))
            if r() < 0.7:
                indicators["sites_managed"] = max(1, int(reached / (500 + 2500 * r())))
        elif sector == "cash":
            if r() < 0.8:
                cents = int(reached * (2000 + 13000 * r()))
                indicators["cash_usd"] = f"{cents // 100}.{cents % 100:02d}"
            if r() < 0.6:
                indicators["transfers"] = int(reached * (0.3 + 0.7 * r()))
        else:
            if r() < 0.7:
                indicators["consultations"] = int(reached * (1 + r()))
            if r() < 0.5:
                indicators["referrals"] = int(reached * (0.01 + 0.07 * r()))
    return (
        index,
        slot.key,
        slot.sector,
        slot.division,
        slot.phase,
        slot.admin1,
        slot.admin2,
        reached,
        sent_new,
        targeted,
        women,
        men,
        girls,
        boys,
        disabled,
        indicators,
    )


def _corrected(rng: random.Random, slot: Slot, line: Line) -> Line:
    """The line with corrected figures (people_reached off by up to 30 %)."""
    reached = line[7]
    fixed = max(0, round(reached * (0.7 + 0.6 * rng.random()))) if reached else rng.randint(1, 50)
    new = line[7] if line[8] is None else line[8]
    fixed_new = min(fixed, round(new * fixed / reached)) if reached else fixed
    sent_new: int | None = None if line[8] is None and fixed_new == fixed else fixed_new
    return _figures(rng, slot, fixed, sent_new, line[0])


# --- the ledger: the rows the service writes for each write ----------------------------


def _columns(model: Any, *, leave_out: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The columns of a model's table that the generator writes, in the table's order."""
    return tuple(c.name for c in model.__table__.columns if c.name not in leave_out)


SITREP_COLUMNS = _columns(Sitrep)
REVISION_COLUMNS = _columns(SitrepRevision)
# feed_xid is left to its default, 0: the rows precede every transaction of the service.
LINE_COLUMNS = _columns(SitrepLine, leave_out=("feed_xid",))


class LineRow:
    """A stored line (the columns of SitrepLine), light: what stored.revise works on here."""

    def __init__(self, **columns: Any) -> None:
        self.__dict__.update(columns)


_LINE_VALUES = operator.attrgetter(*LINE_COLUMNS)
# The columns holding JSON documents, written as the target stores them.
_LINE_INDICATORS = LINE_COLUMNS.index("indicators")
_REVISION_VALUES = operator.itemgetter(*REVISION_COLUMNS)
_REVISION_LINES = REVISION_COLUMNS.index("lines")


@dataclass(slots=True)
class Header:
    """What a line repeats of its sitrep, at one revision (stored.SitrepHeader)."""

    revision: int
    country: str
    crisis_id: int | None
    period_start: date
    period_end: date


@dataclass
class Chunk:
    sitreps: list[tuple[Any, ...]] = field(default_factory=list)
    revisions: list[tuple[Any, ...]] = field(default_factory=list)
    lines: list[tuple[Any, ...]] = field(default_factory=list)


class Bundle:
    """A sitrep still to change: its row's columns and its rows so far."""

    __slots__ = ("lines", "revisions", "row")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.lines: dict[str, LineRow] = {}  # by line key, in id order
        self.revisions: list[dict[str, Any]] = []


@dataclass
class Counts:
    sitreps: int = 0
    revisions: int = 0
    lines: int = 0
    amended: int = 0
    withdrawn: int = 0
    live_lines: int = 0


class Ledger:
    """Turns writes into rows with the service's own definitions (app.sitreps.stored: a
    sitrep's row, the line header, a revision's lines kept, new and dropped, a withdrawal,
    the revision's documents; app.sitreps.rules: a body line as its stored columns, read by
    the service's schema): ids from the database's sequences, feed_seq numbers in write
    order as app.sitreps.order hands them out (a revision's lines, then those it dropped)."""

    def __init__(
        self,
        starts: Starts,
        timestamp: Callable[[int], str],
        document: Callable[[Any], str],
    ) -> None:
        self.next_revision = starts.revision
        self.next_line = starts.line
        self.feed = starts.feed
        self.timestamp = timestamp
        self.document = document
        self.open: dict[int, Bundle] = {}
        self.counts = Counts()
        self.chunk = Chunk()

    def apply(self, write: Write) -> None:
        if write.kind == "submit":
            self._submit(write)
        elif write.kind == "amend":
            self._amend(write)
        else:
            self._withdraw(write)

    def _submit(self, write: Write) -> None:
        s = write.sitrep
        # The service stamps the sitrep, then its first revision a moment later.
        row = stored.sitrep_fields(s, created_by_id=s.user_id, now=self.timestamp(write.at))
        bundle = Bundle({"id": s.id, **row})
        self._revision(write, bundle, self.timestamp(write.at + 700 + s.id % 1500))
        self.counts.sitreps += 1
        if write.last:
            self._emit(bundle)
        else:
            self.open[s.id] = bundle

    def _amend(self, write: Write) -> None:
        s = write.sitrep
        bundle = self.open[s.id]
        bundle.row["revision"] += 1
        if bundle.row["revision"] == 2:
            self.counts.amended += 1
        self._revision(write, bundle, self.timestamp(write.at))
        if write.last:
            self._emit(self.open.pop(s.id))

    def _new_line(self, sitrep_id: int) -> Callable[..., LineRow]:
        def make(**columns: Any) -> LineRow:
            row = LineRow(id=self.next_line, sitrep_id=sitrep_id, **columns)
            self.next_line += 1
            return row

        return make

    def _revision(self, write: Write, bundle: Bundle, now: str) -> None:
        s = write.sitrep
        assert write.lines is not None
        header = Header(
            bundle.row["revision"], s.country, s.crisis_id, s.period_start, s.period_end
        )
        lines = []
        for line in write.lines:
            read = LineIn.model_validate(line_body(line))
            columns = rules.line_columns(read, rules.line_key(read))
            # Every chain is settled once the lines are in (rederive_statement). The service's
            # provisional target (the line's own) suits a write that is its chain's latest;
            # here most lines are restated later, and settling then rewrote them all: at ten
            # million lines on PostgreSQL 6.3 million UPDATEs, the lines' indexes 4.8 GB. From
            # 0, settling writes only each chain's latest target (662,164 lines).
            columns["year_target"] = 0
            lines.append(columns)
        revised = stored.revise(
            bundle.lines, lines, stored.line_header(header, now=now), make=self._new_line(s.id)
        )
        for row in revised.new:
            bundle.lines[row.line_key] = row
        self.counts.lines += len(revised.new)
        for row in (*revised.rows, *revised.dropped):
            self.feed += 1
            row.feed_seq = self.feed
        fields = stored.revision_fields(
            header,
            sitrep_id=s.id,
            narrative=write.narrative,
            rows=revised.rows,
            submitted_by_id=s.user_id,
            now=now,
        )
        bundle.revisions.append({"id": self.next_revision, **fields})
        self.next_revision += 1
        self.counts.revisions += 1

    def _withdraw(self, write: Write) -> None:
        s = write.sitrep
        bundle = self.open.pop(s.id)
        now = self.timestamp(write.at)
        live = [row for row in bundle.lines.values() if row.status == SitrepStatus.submitted]
        for row in live:
            self.feed += 1
            row.feed_seq = self.feed
        stored.withdraw_lines(live, now=now)
        assert write.reason is not None
        bundle.row.update(
            status=SitrepStatus.withdrawn.value,
            withdrawn_at=now,
            withdrawn_by_id=s.user_id,
            withdrawal_reason=write.reason,
        )
        self.counts.withdrawn += 1
        self._emit(bundle)

    def _emit(self, bundle: Bundle) -> None:
        document = self.document
        self.chunk.sitreps.append(tuple(bundle.row.get(name) for name in SITREP_COLUMNS))
        for revision in bundle.revisions:
            values = list(_REVISION_VALUES(revision))
            values[_REVISION_LINES] = document(values[_REVISION_LINES])
            self.chunk.revisions.append(tuple(values))
        for row in bundle.lines.values():
            values = list(_LINE_VALUES(row))
            values[_LINE_INDICATORS] = document(values[_LINE_INDICATORS])
            self.chunk.lines.append(tuple(values))
            self.counts.live_lines += row.status == SitrepStatus.submitted

    def take(self) -> Chunk:
        chunk, self.chunk = self.chunk, Chunk()
        return chunk


# --- databases -------------------------------------------------------------------------


class Target(Protocol):
    """A database the rows are loaded into."""

    label: str

    def starts(self) -> Starts: ...
    def timestamp(self, at: int) -> str: ...
    def document(self, value: Any) -> str: ...
    def begin(self, plan: Plan) -> None: ...
    def write(self, chunk: Chunk) -> None: ...
    def finish(self, last: Starts, feed: int) -> list[tuple[str, float]]: ...
    def after(self) -> list[tuple[str, float]]: ...
    def size(self) -> int: ...
    def close(self) -> None: ...


def _iso(at: int) -> str:
    return (EPOCH + timedelta(microseconds=at)).isoformat(sep=" ", timespec="microseconds")


def _user_rows(plan: Plan, timestamp: Callable[[int], str]) -> list[tuple[Any, ...]]:
    return [(u.id, u.name, u.role, timestamp(u.created_at)) for u in plan.users]


SEQUENCED = ("users", "crises", "sitreps", "sitrep_revisions", "sitrep_lines")
LOADED = ("sitreps", "sitrep_revisions", "sitrep_lines")


class PostgresTarget:
    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        self.label = parsed.render_as_string(hide_password=True)
        conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self.connection = psycopg.connect(conninfo)
        self.deferred: list[tuple[str, str]] = []

    def starts(self) -> Starts:
        with self.connection.cursor() as cur:
            _require_empty(cur)
            values = []
            for table in SEQUENCED:
                cur.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
                (max_id,) = cur.fetchone() or (0,)
                cur.execute(f"SELECT last_value, is_called FROM {_sequence(cur, table)}")
                last_value, is_called = cur.fetchone() or (0, False)
                values.append(max(max_id, last_value if is_called else last_value - 1) + 1)
            # PostgreSQL's writers number feed positions from the feed_seq sequence.
            cur.execute("SELECT last_value, is_called FROM feed_seq")
            last_value, is_called = cur.fetchone() or (0, False)
            feed = last_value if is_called else last_value - 1
        self.connection.commit()
        user, crisis, sitrep, revision, line = values
        return Starts(user, crisis, sitrep, revision, line, int(feed))

    def timestamp(self, at: int) -> str:
        return _iso(at) + "+00:00"

    def document(self, value: Any) -> str:
        # JSONB keeps the value, not the text: any serialiser does; orjson is the fastest.
        return orjson.dumps(value).decode()

    def begin(self, plan: Plan) -> None:
        cur = self.connection.cursor()
        _require_free_names(cur, plan, "%s")
        cur.executemany(
            "INSERT INTO users (id, name, role, created_at) VALUES (%s, %s, %s, %s)",
            _user_rows(plan, self.timestamp),
        )
        cur.executemany(
            "INSERT INTO user_countries (user_id, country) VALUES (%s, %s)",
            [(u.id, c) for u in plan.users for c in u.countries],
        )
        cur.executemany(
            "INSERT INTO crises (id, name, kind, started_on, glide, scale_up, created_at, "
            "created_by_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    c.id,
                    c.name,
                    c.kind,
                    c.started_on,
                    c.glide,
                    c.scale_up,
                    self.timestamp(c.created_at),
                    c.created_by_id,
                )
                for c in plan.crises
            ],
        )
        cur.executemany(
            "INSERT INTO crisis_countries (crisis_id, country) VALUES (%s, %s)",
            [(c.id, code) for c in plan.crises for code in c.countries],
        )
        # Secondary indexes are built after the load, from their own definitions; the
        # constraints' indexes (primary keys, unique) stay.
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = ANY(%s) AND indexname NOT IN (SELECT conname FROM pg_constraint) "
            "ORDER BY indexname",
            (list(LOADED),),
        )
        self.deferred = [(str(name), str(sql)) for name, sql in cur.fetchall()]
        for name, _sql in self.deferred:
            cur.execute(f'DROP INDEX "{name}"')
        # Foreign keys hold by construction (tests/bench/test_bench_generate.py checks them): their
        # triggers are off for the load when the role may do that (a superuser).
        try:
            with self.connection.transaction():
                cur.execute("SET LOCAL session_replication_role = replica")
        except psycopg.errors.InsufficientPrivilege:
            pass

    def write(self, chunk: Chunk) -> None:
        with self.connection.cursor() as cur:
            for table, columns, rows in (
                ("sitreps", SITREP_COLUMNS, chunk.sitreps),
                ("sitrep_revisions", REVISION_COLUMNS, chunk.revisions),
                ("sitrep_lines", LINE_COLUMNS, chunk.lines),
            ):
                if not rows:
                    continue
                statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                with cur.copy(statement) as copy:
                    for row in rows:
                        copy.write_row(row)

    def finish(self, last: Starts, feed: int) -> list[tuple[str, float]]:
        started = time.perf_counter()
        with self.connection.cursor() as cur:
            cur.execute("SET LOCAL session_replication_role = DEFAULT")
            for _name, sql in self.deferred:
                cur.execute(sql)
            indexed = time.perf_counter()
            for sql in _cells_sql("postgresql"):
                cur.execute(sql)
            summed = time.perf_counter()
            if feed > 0:
                cur.execute("SELECT setval('feed_seq', %s)", (feed,))
            for table, next_id in zip(
                SEQUENCED,
                (last.user, last.crisis, last.sitrep, last.revision, last.line),
                strict=True,
            ):
                sequence = _sequence(cur, table)
                if next_id > 1:
                    cur.execute("SELECT setval(%s, %s, true)", (sequence, next_id - 1))
        self.connection.commit()
        done = time.perf_counter()
        return [
            ("indexes", indexed - started),
            ("totals cells", summed - indexed),
            ("commit", done - summed),
        ]

    def after(self) -> list[tuple[str, float]]:
        """VACUUM ANALYZE, as autovacuum would in time: statistics for the planner, and the
        visibility map that makes the totals index-only."""
        started = time.perf_counter()
        self.connection.autocommit = True
        with self.connection.cursor() as cur:
            for table in (
                "sitrep_lines",
                "sitrep_revisions",
                "sitreps",
                "totals_cells",
                "totals_places",
                "totals_slots",
            ):
                cur.execute(f"VACUUM (ANALYZE) {table}")
        self.connection.autocommit = False
        return [("vacuum analyze", time.perf_counter() - started)]

    def size(self) -> int:
        with self.connection.cursor() as cur:
            cur.execute("SELECT pg_database_size(current_database())")
            (size,) = cur.fetchone() or (0,)
        self.connection.commit()
        return int(size)

    def close(self) -> None:
        self.connection.close()


def _sequence(cur: Any, table: str) -> str:
    cur.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,))
    (name,) = cur.fetchone()
    return str(name)


def _cells_sql(dialect_name: str) -> list[str]:
    """The service's own rebuild of the totals cells, as SQL for a raw connection."""
    from sqlalchemy.dialects import postgresql, sqlite

    from app.totals import service as totals

    dialect = (postgresql if dialect_name == "postgresql" else sqlite).dialect()
    return [
        str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        for statement in totals.rebuild_statements()
    ]


def _require_empty(cur: Any) -> None:
    cur.execute("SELECT (SELECT count(*) FROM sitreps) + (SELECT count(*) FROM sitrep_lines)")
    (rows,) = cur.fetchone()
    if rows:
        raise SystemExit(
            "error: the database already holds sitreps; generate into a fresh database "
            "(the one-sitrep-per-slot rule holds by construction only in an empty one)"
        )


def _require_free_names(cur: Any, plan: Plan, mark: str) -> None:
    names = [u.name for u in plan.users]
    cur.execute(
        f"SELECT name FROM users WHERE name IN ({', '.join([mark] * len(names))})",
        names,
    )
    taken = [row[0] for row in cur.fetchall()]
    if taken:
        raise SystemExit(f"error: users {', '.join(taken)} already exist in the database")


class SqliteTarget:
    def __init__(self, url: str, *, exclusive: bool) -> None:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        self.label = parsed.render_as_string(hide_password=True)
        assert parsed.database
        self.path = Path(parsed.database)
        self.exclusive = exclusive
        self.deferred: list[tuple[str, str]] = []
        self.connection = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30
        )
        # Dates as SQLAlchemy's Date stores them on SQLite (Python 3.12 deprecates the
        # default adapter, which gives the same text).
        sqlite3.register_adapter(date, date.isoformat)
        # No syncs; a 64 MB page cache (index builds sort within it, then in temp files).
        pragmas = ["synchronous=OFF", "cache_size=-65536"]
        if exclusive:
            # A file of our own: no journal and no other reader while loading.
            pragmas += ["journal_mode=OFF", "locking_mode=EXCLUSIVE"]
        for pragma in pragmas:
            self.connection.execute(f"PRAGMA {pragma}")

    def starts(self) -> Starts:
        cur = self.connection.cursor()
        _require_empty(cur)
        values = []
        for table in SEQUENCED:
            (max_id,) = cur.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()
            values.append(int(max_id) + 1)
        (feed,) = cur.execute("SELECT value FROM counters WHERE name = 'feed'").fetchone()
        user, crisis, sitrep, revision, line = values
        return Starts(user, crisis, sitrep, revision, line, int(feed))

    def timestamp(self, at: int) -> str:
        return _iso(at)

    def document(self, value: Any) -> str:
        # The text SQLAlchemy's JSON type stores on SQLite (its default serialiser).
        return json.dumps(value)

    def begin(self, plan: Plan) -> None:
        cur = self.connection.cursor()
        cur.execute("BEGIN IMMEDIATE")
        _require_free_names(cur, plan, "?")
        cur.executemany(
            "INSERT INTO users (id, name, role, created_at) VALUES (?, ?, ?, ?)",
            _user_rows(plan, self.timestamp),
        )
        cur.executemany(
            "INSERT INTO user_countries (user_id, country) VALUES (?, ?)",
            [(u.id, c) for u in plan.users for c in u.countries],
        )
        cur.executemany(
            "INSERT INTO crises (id, name, kind, started_on, glide, scale_up, created_at, "
            "created_by_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    c.id,
                    c.name,
                    c.kind,
                    c.started_on.isoformat(),
                    c.glide,
                    int(c.scale_up),
                    self.timestamp(c.created_at),
                    c.created_by_id,
                )
                for c in plan.crises
            ],
        )
        cur.executemany(
            "INSERT INTO crisis_countries (crisis_id, country) VALUES (?, ?)",
            [(c.id, code) for c in plan.crises for code in c.countries],
        )
        # Secondary indexes are built after the load, from their own definitions (the
        # unique constraints' automatic indexes stay). Foreign keys are not enforced on
        # this connection (SQLite's default); they hold by construction.
        marks = ", ".join("?" * len(LOADED))
        self.deferred = [
            (str(name), str(sql))
            for name, sql in cur.execute(
                f"SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                f"AND tbl_name IN ({marks}) AND sql IS NOT NULL ORDER BY name",
                LOADED,
            ).fetchall()
        ]
        for name, _sql in self.deferred:
            cur.execute(f'DROP INDEX "{name}"')

    def write(self, chunk: Chunk) -> None:
        cur = self.connection.cursor()
        for table, columns, rows in (
            ("sitreps", SITREP_COLUMNS, chunk.sitreps),
            ("sitrep_revisions", REVISION_COLUMNS, chunk.revisions),
            ("sitrep_lines", LINE_COLUMNS, chunk.lines),
        ):
            marks = ", ".join("?" * len(columns))
            cur.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                rows,
            )

    def finish(self, last: Starts, feed: int) -> list[tuple[str, float]]:
        started = time.perf_counter()
        for _name, sql in self.deferred:
            self.connection.execute(sql)
        indexed = time.perf_counter()
        for sql in _cells_sql("sqlite"):
            self.connection.execute(sql)
        summed = time.perf_counter()
        self.connection.execute("UPDATE counters SET value = ? WHERE name = 'feed'", (feed,))
        self.connection.execute("COMMIT")
        done = time.perf_counter()
        return [
            ("indexes", indexed - started),
            ("totals cells", summed - indexed),
            ("commit", done - summed),
        ]

    def after(self) -> list[tuple[str, float]]:
        if self.exclusive:
            started = time.perf_counter()
            self.connection.execute("PRAGMA locking_mode=NORMAL")
            self.connection.execute("PRAGMA journal_mode=WAL")  # as the service leaves it
            return [("journal back to WAL", time.perf_counter() - started)]
        return []

    def size(self) -> int:
        return sum(
            p.stat().st_size
            for p in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm"))
            if p.exists()
        )

    def close(self) -> None:
        self.connection.close()


# --- the load --------------------------------------------------------------------------


@dataclass
class Report:
    url: str
    plan: Plan
    counts: Counts
    feed: int
    load_seconds: float  # generating and loading the rows
    finish: list[tuple[str, float]]  # building the deferred indexes, committing
    after: list[tuple[str, float]]  # after the commit (VACUUM ANALYZE, journal mode)
    total_seconds: float
    size_bytes: int
    peak_rss_kb: int

    @property
    def ready_seconds(self) -> float:
        """From the first row sent to the commit: when the data set is usable."""
        return self.load_seconds + sum(seconds for _step, seconds in self.finish)

    @property
    def rows(self) -> int:
        c = self.counts
        users = len(self.plan.users) + sum(len(u.countries) for u in self.plan.users)
        crises = len(self.plan.crises) + sum(len(c.countries) for c in self.plan.crises)
        return c.sitreps + c.revisions + c.lines + users + crises


def chunks(plan: Plan, ledger: Ledger, now: int | None = None) -> Iterator[Chunk]:
    """The rows of every write, a chunk of about ``chunk_lines`` lines at a time."""
    limit = plan.config.chunk_lines
    for write in Simulation(plan, now).writes():
        ledger.apply(write)
        if len(ledger.chunk.lines) >= limit:
            yield ledger.take()
    if ledger.open:
        raise AssertionError(f"{len(ledger.open)} sitreps still open at the end")
    yield ledger.take()


def load(
    url: str,
    config: Config,
    *,
    progress: bool = True,
    after: bool = True,
    exclusive: bool = False,
    now: int | None = None,
) -> Report:
    """Migrates the database at ``url``, generates the data set and loads it."""
    from alembic import command

    from app.db import alembic_config

    started = time.perf_counter()
    command.upgrade(alembic_config(url), "head")
    target: Target = (
        SqliteTarget(url, exclusive=exclusive) if url.startswith("sqlite") else PostgresTarget(url)
    )
    try:
        starts = target.starts()
        plan = build_plan(config, starts)
        ledger = Ledger(starts, target.timestamp, target.document)
        target.begin(plan)
        load_started = time.perf_counter()
        _pipeline(chunks(plan, ledger, now), target, config.lines, progress)
        last = Starts(
            starts.user + len(plan.users),
            starts.crisis + len(plan.crises),
            starts.sitrep + ledger.counts.sitreps,
            ledger.next_revision,
            ledger.next_line,
            ledger.feed,
        )
        load_seconds = time.perf_counter() - load_started
        finish = target.finish(last, ledger.feed)
        steps = target.after() if after else []
        size = target.size()
    finally:
        target.close()
    return Report(
        url=target.label,
        plan=plan,
        counts=ledger.counts,
        feed=ledger.feed,
        load_seconds=load_seconds,
        finish=finish,
        after=steps,
        total_seconds=time.perf_counter() - started,
        size_bytes=size,
        peak_rss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    )


def _pipeline(source: Iterable[Chunk], target: Target, total: int, show: bool) -> None:
    """Generates chunks on this thread while a writer thread loads the previous ones."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    pending: queue.Queue[Chunk | None] = queue.Queue(maxsize=1)
    failure: list[BaseException] = []
    columns = (
        TextColumn("[bold]loading lines"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=not show, transient=False) as bar:
        task = bar.add_task("lines", total=total, rate="")
        started = time.perf_counter()
        done = 0

        def writer() -> None:
            nonlocal done
            try:
                while (chunk := pending.get()) is not None:
                    target.write(chunk)
                    done += len(chunk.lines)
                    rate = done / max(1e-9, time.perf_counter() - started)
                    bar.update(task, completed=done, rate=f"{rate:,.0f} lines/s")
            except BaseException as exc:  # handed to the generating thread
                failure.append(exc)
                while pending.get() is not None:
                    pass

        thread = threading.Thread(target=writer, name="bench-writer", daemon=True)
        thread.start()
        try:
            for chunk in source:
                if failure:
                    break
                pending.put(chunk)
        finally:
            pending.put(None)
            thread.join()
        if failure:
            raise failure[0]


# --- command line ----------------------------------------------------------------------


def _fresh_postgres(server_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    server = make_url(server_url)
    conninfo = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return server.set(database=name).render_as_string(hide_password=False)


def _fresh_sqlite(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        p.unlink(missing_ok=True)
    return f"sqlite:///{path}"


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate a realistic crisis-tracker data set and bulk-load it.",
    )
    parser.add_argument("--lines", type=int, required=True, help="sitrep lines to generate")
    parser.add_argument("--db", choices=("sqlite", "postgres"), required=True)
    parser.add_argument(
        "--url",
        help="the database to load into (migrated first; must hold no sitreps). Default: a "
        "fresh database crisis_tracker_bench_<N> on the PostgreSQL server of "
        "TRACKER_BENCH_POSTGRES (or postgresql+psycopg://postgres@127.0.0.1:5432), or a "
        "fresh file bench/out/bench-<N>.db; either is replaced if it exists",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--countries", type=int, default=200, help="country offices (200)")
    parser.add_argument("--years", type=int, default=10, help="years of reporting (10)")
    parser.add_argument(
        "--end",
        type=date.fromisoformat,
        default=None,
        help="last day of the reporting span (default: 31 December of last year, or of the "
        "year before during the first 100 days of a year)",
    )
    parser.add_argument("--chunk", type=int, default=10_000, help="lines per chunk (10000)")
    parser.add_argument(
        "--no-vacuum", action="store_true", help="PostgreSQL: skip the final VACUUM ANALYZE"
    )
    args = parser.parse_args(argv)

    config = Config(
        lines=args.lines,
        seed=args.seed,
        countries=args.countries,
        years=args.years,
        end=args.end or default_end(),
        chunk_lines=args.chunk,
    )
    exclusive = False
    if args.url:
        url = args.url
        if url.startswith("sqlite") != (args.db == "sqlite"):
            parser.error(f"--url {url} is not a {args.db} database")
    elif args.db == "postgres":
        server = os.environ.get("TRACKER_BENCH_POSTGRES", DEFAULT_POSTGRES)
        url = _fresh_postgres(server, f"crisis_tracker_bench_{args.lines}")
    else:
        url = _fresh_sqlite(OUT_DIR / f"bench-{args.lines}.db")
        exclusive = True
    print(
        f"generating {config.lines:,} lines: {config.countries} countries, {config.years} "
        f"years to {config.end}, seed {config.seed}"
    )
    report = load(url, config, after=not args.no_vacuum or args.db == "sqlite", exclusive=exclusive)
    c = report.counts
    plan = report.plan
    print(f"database: {report.url}")
    print(
        f"  {len(plan.countries)} countries, {len(plan.crises)} crises, {len(plan.users)} users, "
        f"{len(plan.streams)} reporting streams"
    )
    print(
        f"  {c.sitreps:,} sitreps ({c.amended:,} amended, {c.withdrawn:,} withdrawn), "
        f"{c.revisions:,} revisions, {c.lines:,} lines ({c.live_lines:,} live), "
        f"feed counter {report.feed:,}"
    )
    print(
        f"  load: {report.load_seconds:.1f} s, {c.lines / report.load_seconds:,.0f} lines/s, "
        f"{report.rows / report.load_seconds:,.0f} rows/s (all tables, {report.rows:,} rows)"
    )
    for step, seconds in report.finish:
        print(f"  {step}: {seconds:.1f} s")
    ready = report.ready_seconds
    print(
        f"  committed after {ready:.1f} s: {c.lines / ready:,.0f} lines/s, "
        f"{report.rows / ready:,.0f} rows/s"
    )
    for step, seconds in report.after:
        print(f"  then {step}: {seconds:.1f} s")
    print(f"  total elapsed: {report.total_seconds:.1f} s (with migrations)")
    print(f"  database size: {_size(report.size_bytes)}")
    print(f"  peak RSS of the generator: {report.peak_rss_kb / 1024:,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
