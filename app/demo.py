"""A realistic demonstration data set, loaded through the same services as the API.

Six country offices, four crises in real countries and one office doing preparedness work
outside any crisis, with monthly sitreps for 2024 and 2025 over every sector, division and
phase, at real admin1 and admin2 p-codes. Some sitreps are amended; one is withdrawn. Not
every office is on time, so that the reporting completeness grid has something to show:
Haiti stopped reporting after September 2025, Afghanistan skipped May and December 2025,
and Syria (a country of the Türkiye-Syria crisis) has never sent a sitrep.
Figures are generated (seeded, so every load is the same), not real IOM figures. The people
in need are real: Afghanistan's and Sudan's 2024 Humanitarian Needs Overviews
(``app/demo_data``), loaded as headquarters loads them.
"""

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import service as auth
from app.auth.models import Role, User
from app.crises import service as crises
from app.crises.models import CrisisKind
from app.crises.schemas import CrisisCreate
from app.imports.sheets import Upload
from app.needs import service as needs
from app.needs.schemas import NeedsOptions
from app.reference import catalog as reference
from app.sitreps import reads
from app.sitreps import service as sitreps
from app.sitreps.schemas import Disaggregation, LineIn, SitrepCreate

YEARS = (2024, 2025)
NEEDS = Path(__file__).parent / "demo_data"
ADMIN = "demo-admin"


@dataclass(frozen=True)
class DemoUser:
    name: str
    role: Role
    countries: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()


USERS = (
    DemoUser(ADMIN, Role.admin),
    DemoUser("demo-hq", Role.hq),
    DemoUser("demo-field", Role.field, countries=("SDN", "TCD")),
    DemoUser("demo-coordinator", Role.coordinator, clusters=("cccm", "shelter")),
    DemoUser("demo-field-hti", Role.field, countries=("HTI",)),
    DemoUser("demo-field-afg", Role.field, countries=("AFG",)),
    DemoUser("demo-field-tur", Role.field, countries=("TUR", "SYR")),
    DemoUser("demo-field-bgd", Role.field, countries=("BGD",)),
)
# The users whose tokens `crisis-tracker demo` prints: one of each role.
SHOWN = ("demo-admin", "demo-hq", "demo-field", "demo-coordinator")

CRISES = {
    "sudan": CrisisCreate(
        name="Sudan conflict and regional displacement",
        kind=CrisisKind.conflict,
        countries=["SDN", "TCD"],
        started_on=date(2023, 4, 15),
        scale_up=True,
    ),
    "haiti": CrisisCreate(
        name="Haiti gang violence and displacement",
        kind=CrisisKind.complex,
        countries=["HTI"],
        started_on=date(2024, 2, 29),
        scale_up=True,
    ),
    "herat": CrisisCreate(
        name="Herat earthquakes",
        kind=CrisisKind.natural_disaster,
        countries=["AFG"],
        started_on=date(2023, 10, 7),
    ),
    "turkiye-syria": CrisisCreate(
        name="Türkiye and Syria earthquakes",
        kind=CrisisKind.natural_disaster,
        countries=["TUR", "SYR"],
        started_on=date(2023, 2, 6),
        glide="EQ-2023-000015-TUR",
        scale_up=True,
    ),
}

DIVISION_OF_PHASE = {"preparedness": "pcca", "response": "hod", "recovery": "prd"}


@dataclass(frozen=True)
class Office:
    """A country office's monthly reporting: which crisis, where, and what."""

    country: str
    officer: str
    crisis: str | None
    admin1: tuple[str, ...]
    # (sector, phase) pairs reported each month
    activities: tuple[tuple[str, str], ...]
    scale: int
    # (year, month) of the months the office did not report
    missed: tuple[tuple[int, int], ...] = ()


OFFICES = (
    Office(
        "SDN",
        "demo-field",
        "sudan",
        ("SD01", "SD02", "SD03", "SD04"),
        (
            ("shelter", "response"),
            ("wash", "response"),
            ("cccm", "response"),
            ("cash", "response"),
            ("health", "response"),
            ("shelter", "recovery"),
        ),
        9000,
    ),
    Office(
        "TCD",
        "demo-field",
        "sudan",
        ("TCD14", "TCD17", "TCD21"),
        (
            ("shelter", "response"),
            ("wash", "response"),
            ("cccm", "response"),
            ("health", "response"),
        ),
        6000,
    ),
    Office(
        "HTI",
        "demo-field-hti",
        "haiti",
        ("HT01", "HT05", "HT08"),
        (
            ("cccm", "response"),
            ("wash", "response"),
            ("health", "response"),
            ("cash", "response"),
            ("shelter", "recovery"),
        ),
        4000,
        missed=((2025, 10), (2025, 11), (2025, 12)),
    ),
    Office(
        "AFG",
        "demo-field-afg",
        "herat",
        ("AF32", "AF31"),
        (
            ("shelter", "recovery"),
            ("wash", "recovery"),
            ("cash", "recovery"),
            ("health", "response"),
        ),
        3000,
        missed=((2025, 5), (2025, 12)),
    ),
    Office(
        "TUR",
        "demo-field-tur",
        "turkiye-syria",
        ("TUR046", "TUR031", "TUR044"),
        (("shelter", "recovery"), ("cccm", "response"), ("wash", "recovery")),
        5000,
    ),
    Office(
        "BGD",
        "demo-field-bgd",
        None,
        ("BD20", "BD10"),
        (
            ("shelter", "preparedness"),
            ("wash", "preparedness"),
            ("cash", "preparedness"),
            ("health", "preparedness"),
        ),
        2500,
    ),
)


@dataclass
class Summary:
    loaded: bool
    tokens: dict[str, str] = field(default_factory=dict)
    sitreps: int = 0
    lines: int = 0
    amended: int = 0
    withdrawn: int = 0
    needs: int = 0

    def describe(self) -> str:
        head = (
            f"Loaded the demo data: {self.sitreps} sitreps ({self.lines} lines), "
            f"{self.amended} amended, {self.withdrawn} withdrawn; people in need from "
            f"{self.needs} needs overviews."
            if self.loaded
            else "The demo data was already loaded; issued fresh tokens for its users."
        )
        rows = [f"  {name:<18} {token}" for name, token in self.tokens.items()]
        return "\n".join([head, "API tokens (Authorization: Bearer <token>):", *rows])


def load(session: Session) -> Summary:
    existing = session.scalar(select(User.id).where(User.name == ADMIN))
    if existing is not None:
        return Summary(loaded=False, tokens=_tokens(session))
    users = {
        u.name: auth.create_user(
            session, name=u.name, role=u.role, countries=u.countries, clusters_=u.clusters
        )
        for u in USERS
    }
    crisis_ids = {
        key: crises.create(session, data=data, user=users["demo-hq"]).id
        for key, data in CRISES.items()
    }
    rng = random.Random(2024)
    summary = Summary(loaded=True)
    for office in OFFICES:
        _load_office(session, office, crisis_ids, users, rng, summary)
    _load_withdrawn(session, users, summary)
    for sheet in sorted(NEEDS.glob("hno_*.csv")):
        needs.load(
            session,
            upload=Upload(data=sheet.read_bytes(), name=sheet.name),
            options=NeedsOptions(),
            user=users["demo-hq"],
        )
        summary.needs += 1
    summary.tokens = _tokens(session)
    return summary


def _tokens(session: Session) -> dict[str, str]:
    return {
        name: auth.issue_token(session, user=auth.get_user_by_name(session, name=name))
        for name in SHOWN
    }


def _months() -> list[tuple[date, date]]:
    periods = []
    for year in YEARS:
        for month in range(1, 13):
            start = date(year, month, 1)
            end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
            periods.append((start, end))
    return periods


def _yearly_target(size: int, start: date) -> int:
    """The office's target for the year, restated in every monthly sitrep as offices do: a
    quarter more than a year of this activity reaches (a month's reach, then about a fifth
    of it new each month), raised by a tenth at the plan's mid-year review."""
    target = int(size * 4)
    return target if start.month < 7 else int(target * 1.1)


def _split(total: int, rng: random.Random) -> Disaggregation:
    women = int(total * rng.uniform(0.26, 0.30))
    men = int(total * rng.uniform(0.20, 0.24))
    girls = int(total * rng.uniform(0.24, 0.27))
    return Disaggregation(women=women, men=men, girls=girls, boys=total - women - men - girls)


def _indicators(sector: str, reached: int, rng: random.Random) -> dict[str, int | str]:
    households = max(1, reached // 5)
    if sector == "shelter":
        return {"households_assisted": households, "shelter_kits": int(households * 0.8)}
    if sector == "wash":
        return {"water_points": max(1, reached // 2500), "latrines": max(1, reached // 50)}
    if sector == "cccm":
        return {"sites_managed": max(1, reached // 3000), "idps_in_sites": reached}
    if sector == "cash":
        return {"transfers": households, "cash_usd": f"{households * rng.choice((75, 90, 120))}.00"}
    return {"consultations": int(reached * 1.4), "referrals": max(1, reached // 40)}


def _location(office: Office, index: int, sector: str) -> tuple[str | None, str | None]:
    """Where a line is reported: admin1 mostly, admin2 for camp management, country-wide
    for cash in preparedness."""
    admin1 = office.admin1[index]
    if sector == "cccm":
        admin2 = reference.children_of(admin1)
        return admin1, admin2[0].code if admin2 else None
    if sector == "cash" and office.crisis is None:
        return None, None
    return admin1, None


def _load_office(
    session: Session,
    office: Office,
    crisis_ids: dict[str, int],
    users: dict[str, User],
    rng: random.Random,
    summary: Summary,
) -> None:
    officer = users[office.officer]
    base = {
        (a, s, p): rng.randint(office.scale // 4, office.scale)
        for a in range(len(office.admin1))
        for s, p in office.activities
    }
    for number, (start, end) in enumerate(_months()):
        lines = []
        seen = set()
        for (a, sector, phase), size in base.items():
            admin1, admin2 = _location(office, a, sector)
            if (admin1, admin2, sector, phase) in seen:
                continue
            seen.add((admin1, admin2, sector, phase))
            reached = int(size * rng.uniform(0.7, 1.3))
            new = reached if start.month == 1 else int(reached * rng.uniform(0.05, 0.35))
            lines.append(
                LineIn(
                    sector=sector,
                    division=DIVISION_OF_PHASE[phase],
                    phase=phase,
                    admin1=admin1,
                    admin2=admin2,
                    people_reached=reached,
                    people_reached_new=new,
                    people_targeted=_yearly_target(size, start),
                    disaggregation=_split(reached, rng),
                    persons_with_disabilities=int(reached * rng.uniform(0.08, 0.15)),
                    indicators=_indicators(sector, reached, rng),
                )
            )
        if (start.year, start.month) in office.missed:
            # Decided after the lines are drawn, so every other month keeps its figures.
            continue
        data = SitrepCreate(
            country=office.country,
            crisis_id=crisis_ids[office.crisis] if office.crisis else None,
            period_start=start,
            period_end=end,
            narrative=f"{reference.countries()[office.country].name}: monthly situation "
            f"report for {start:%B %Y}.",
            lines=lines,
        )
        sitrep = sitreps.submit(session, data=data, user=officer)
        summary.sitreps += 1
        summary.lines += len(lines)
        if number % 7 == 3:
            # A correction: the first line's figures were under-reported, and the last
            # line had been reported under the wrong sitrep.
            first = lines[0].model_copy(
                update={
                    "people_reached": lines[0].people_reached + 120,
                    "people_reached_new": (lines[0].people_reached_new or 0) + 20,
                    "disaggregation": _split(lines[0].people_reached + 120, rng),
                }
            )
            amended = data.model_copy(
                update={
                    "lines": [first, *lines[1:-1]],
                    "narrative": f"{data.narrative} Corrected figures for {first.sector}.",
                }
            )
            sitreps.amend(
                session,
                sitrep_id=sitrep.id,
                data=amended,
                if_match=reads.etag(sitrep),
                user=officer,
            )
            summary.amended += 1
            summary.lines -= 1


def _load_withdrawn(session: Session, users: dict[str, User], summary: Summary) -> None:
    """A sitrep submitted by mistake and withdrawn: Haitian health work reported under
    no crisis, when it belonged to the Haiti crisis and was already in its sitrep."""
    officer = users["demo-field-hti"]
    data = SitrepCreate(
        country="HTI",
        period_start=date(2025, 3, 1),
        period_end=date(2025, 3, 31),
        narrative="Health posts in Port-au-Prince displacement sites.",
        lines=[
            LineIn(
                sector="health",
                division="hod",
                phase="response",
                admin1="HT01",
                people_reached=2300,
                indicators={"consultations": 3100},
            )
        ],
    )
    sitrep = sitreps.submit(session, data=data, user=officer)
    sitreps.withdraw(
        session,
        sitrep_id=sitrep.id,
        if_match=reads.etag(sitrep),
        user=officer,
        reason="Duplicate: these consultations are in the Haiti crisis sitrep for March 2025.",
    )
    summary.sitreps += 1
    summary.withdrawn += 1
