"""Fuzzing (issue 3, point 8): schemathesis against the service's own OpenAPI document.

``test_fuzz`` calls every operation of the document, in process, as an administrator and
as a field officer of Sudan, with inputs generated from its documented parameters and
bodies: valid ones (positive mode), ones that break the document (negative mode), and
schemathesis' coverage cases (boundary values, missing required parts, unexpected methods,
no credentials). ``test_hostile_values`` then
sends a short list of values known to break services to every parameter of every
operation. Every response must:

- not be a 5xx;
- have a status the operation documents, with a content type it documents for that status;
- match the documented schema of that status;
- when it is an error (4xx or 5xx), be an RFC 9457 problem: ``application/problem+json``
  with ``type``, ``title``, ``status`` (equal to the HTTP status) and ``detail``.

Generation is derandomized (a fixed seed), so a run is repeatable; ``pytest -s`` prints
the calls made per operation, mode and status. It runs on both databases; CI's PostgreSQL
run (.ci/run) is the one issue 3 asks for.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import line, make_user, sitrep

if TYPE_CHECKING:
    from fastapi import FastAPI

# Bounded so that the whole run takes a minute or two on two cores.
MAX_EXAMPLES = 30
SEED = 20240301
PROBLEM_MEDIA_TYPE = "application/problem+json"


def _document() -> dict[str, Any]:
    """The OpenAPI document as the service serves it (checked again in ``fuzz_app``)."""
    from app.config import get_settings
    from app.main import create_app

    try:
        return create_app().openapi()
    finally:
        get_settings.cache_clear()  # the test harness configures the database later


schema = schemathesis.openapi.from_dict(
    _document(),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
        }
    ),
)

# An XLSX upload is sent as the raw bytes generated for it, as any binary body.
schemathesis.serializer.alias(
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/octet-stream"
)

# What the run did, for the summary: (operation, generation mode, status) -> calls.
CALLS: Counter[tuple[str, str, int]] = Counter()
# The administrator's token, and resources made for each operation's run.
STATE: dict[str, Any] = {}


# Cases are built before any test runs (coverage cases at collection), when no user exists
# yet: they carry this placeholder, which test_fuzz swaps for the administrator's token.
PLACEHOLDER = "the-administrator-token-of-the-run"


@schema.auth(refresh_interval=None).apply_to(path_regex="^/api/")
class AdminToken:
    """Every generated request to the API carries an administrator's token, except the
    cases that test what happens without one."""

    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str:
        return PLACEHOLDER

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schema.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    """In valid input, send every other generated id as the id of a resource made for the
    run: random 32-bit ids almost never exist, and reading, amending or withdrawing a real
    sitrep is where the interesting answers are."""
    if case.meta is None or case.meta.generation.mode != schemathesis.GenerationMode.POSITIVE:
        return case
    for name in ("crisis_id", "sitrep_id"):
        value = (case.path_parameters or {}).get(name)
        ids = STATE.get(name)
        if ids and isinstance(value, int) and value % 2 == 0:
            case.path_parameters[name] = ids[value // 2 % len(ids)]
    return case


@pytest.fixture(scope="module")
def fuzz_app(migrated: str) -> Iterator[FastAPI]:
    """An app of its own with the per-token rate limit off: thousands of requests with one
    token would otherwise be mostly 429s (documented, and tested on their own) and fuzz
    nothing. Every other limit stays as configured."""
    from app.config import get_settings
    from app.main import create_app

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRACKER_RATE_LIMIT_PER_MINUTE", "0")
        get_settings.cache_clear()
        app = create_app()
    get_settings.cache_clear()
    assert app.openapi() == schema.raw_schema, "the fuzzed document is not the one served"
    yield app
    _report()


@pytest.fixture
def seeded(fuzz_app: FastAPI, request: pytest.FixtureRequest) -> None:
    """A crisis and three sitreps of Sudan, made by an administrator, and the token the run
    calls with: the administrator's, or (``indirect`` parameter ``"field"``) a field
    officer's of Sudan, who may change those sitreps and not what only headquarters may
    (tables are emptied after each test)."""
    STATE["role"] = role = getattr(request, "param", "admin")
    token = make_user("admin")
    STATE["token"] = token if role == "admin" else make_user("field", countries=["SDN"])
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(fuzz_app) as client:
        crisis = client.post(
            "/api/v1/crises",
            headers=headers,
            json={
                "name": "Fuzzing floods",
                "kind": "natural-disaster",
                "countries": ["SDN"],
                "started_on": "2024-01-01",
            },
        )
        assert crisis.status_code == 201, crisis.text
        STATE["crisis_id"] = [crisis.json()["id"]]
        STATE["sitrep_id"] = []
        for month, sector in ((3, "shelter"), (4, "wash"), (5, "health")):
            body = sitrep(
                line(sector, reached=1000, new=400),
                crisis_id=STATE["crisis_id"][0],
                start=f"2024-{month:02}-01",
                end=f"2024-{month:02}-28",
            )
            created = client.post("/api/v1/sitreps", headers=headers, json=body)
            assert created.status_code == 201, created.text
            STATE["sitrep_id"].append(created.json()["id"])


def problem_json(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """Every error is an RFC 9457 problem (issue 3: "every error problem+json")."""
    if response.status_code < 400:
        return
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.split(";")[0].strip() == PROBLEM_MEDIA_TYPE, (
        f"{response.status_code} answered as {content_type!r}, not {PROBLEM_MEDIA_TYPE}"
    )
    body = json.loads(response.content)
    assert isinstance(body, dict), f"the problem is not a JSON object: {body!r}"
    for member in ("type", "title", "detail"):
        assert isinstance(body.get(member), str) and body[member], f"the problem lacks {member!r}"
    assert body.get("status") == response.status_code, "the problem's status is not the HTTP one"


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    problem_json,
]


@pytest.fixture
def both_modes(request: pytest.FixtureRequest) -> Iterator[None]:
    """After an operation's run: it was called with valid and with invalid input."""
    yield
    label = STATE.pop("label", None)
    modes = {mode for (other, mode, _) in CALLS if other == label}
    assert {"positive", "negative"} <= modes, f"{label} was called in modes {sorted(modes)}"


def _label(case: schemathesis.Case) -> str:
    """An operation as the summary names it, with the role it was called as."""
    return f"{case.operation.label} as {STATE['role']}"


@schema.parametrize()
# The seeded resources are shared by all the examples of an operation on purpose: what one
# example changes (an amended or withdrawn sitrep) is what the next one meets.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
# As an administrator, who may call everything, and as a field officer, whose 403s and
# 404s (sitreps of other countries answer as missing ones) must be documented too.
@pytest.mark.parametrize("seeded", ["admin", "field"], indirect=True)
def test_fuzz(case: schemathesis.Case, fuzz_app: FastAPI, seeded: None, both_modes: None) -> None:
    mode = case.meta.generation.mode.value if case.meta is not None else "explicit"
    STATE["label"] = _label(case)  # for both_modes
    key = (STATE["label"], mode)
    headers = None
    if (case.headers or {}).get("Authorization") == f"Bearer {PLACEHOLDER}":
        headers = {"Authorization": f"Bearer {STATE['token']}"}
    try:
        response = case.call(app=fuzz_app, headers=headers)
    except Exception:
        # An exception the error handlers did not turn into a response: a 500 to a client.
        CALLS[(*key, 500)] += 1
        raise
    CALLS[(*key, response.status_code)] += 1
    case.validate_response(
        response, checks=CHECKS, headers=headers, transport_kwargs={"app": fuzz_app}
    )


# --- hostile values, each sent to every parameter -------------------------------------
#
# Random generation rarely produces the few values known to break services (a NUL, which
# PostgreSQL cannot store; a date-time whose offset pushes it out of the calendar; numbers
# past 64 bits), so each of these goes to every parameter of every operation, once.

HOSTILE = [
    "\x00",
    "a\x00b",
    "",
    " ",
    "x" * 5000,
    "\U0001f600\u202e",
    "'; DROP TABLE sitreps; --",
    "%_\\",
    "-1",
    "0",
    "2147483648",
    "99999999999999999999",
    "1e309",
    "NaN",
    "null",
    ",,,",
    "0001-01-01",
    "9999-12-31",
    "2024-02-30",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "../../etc/passwd",
]

# Valid values for the parts of a request that are not under test.
PATH_DEFAULTS = {
    "sitrep_id": lambda path: STATE["sitrep_id"][0],
    "crisis_id": lambda path: STATE["crisis_id"][0],
    "code": lambda path: "wash" if path.startswith("/api/v1/clusters/") else "SDN",
    "format": lambda path: "csv",
}
HEADER_DEFAULTS = {"if-match": "*"}
JSON = "application/json"
# Operation -> (media type, body). An operation missing here is sent without a body (and
# is then mostly refused before the parameter under test matters): add it.
BODIES: dict[str, tuple[str, Any]] = {
    "POST /api/v1/crises": (
        JSON,
        {
            "name": "Hostile floods",
            "kind": "natural-disaster",
            "countries": ["SDN"],
            "started_on": "2024-01-01",
        },
    ),
    "POST /api/v1/sitreps": (JSON, sitrep(start="2023-01-01", end="2023-01-31")),
    "POST /api/v1/sitreps/batch": (
        JSON,
        {"sitreps": [sitrep(start="2023-02-01", end="2023-02-28")]},
    ),
    "PUT /api/v1/sitreps/{sitrep_id}": (
        JSON,
        sitrep(line("shelter", reached=1000, new=400), start="2024-03-01", end="2024-03-28"),
    ),
    "DELETE /api/v1/sitreps/{sitrep_id}": (JSON, {"reason": "Entered twice."}),
    "POST /api/v1/imports": (
        "text/csv",
        "country,period_start,period_end,sector,division,phase,admin1,people_reached\n"
        "SDN,2023-03-01,2023-03-31,shelter,hod,response,SD01,250\n",
    ),
}


def _parameters() -> Iterator[Any]:
    for path, operations in schema.raw_schema["paths"].items():
        for method, operation in operations.items():
            targets = [(p["in"], p["name"]) for p in operation.get("parameters", [])]
            if operation.get("security"):
                targets.append(("header", "Authorization"))
            for location, name in targets:
                label = f"{method.upper()} {path}"
                yield pytest.param(label, location, name, id=f"{label} {location}:{name}")


@pytest.mark.parametrize(("label", "location", "name"), list(_parameters()))
def test_hostile_values(
    fuzz_app: FastAPI, seeded: None, label: str, location: str, name: str
) -> None:
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    failures = []
    for value in HOSTILE:
        if location == "header" and not (
            value == value.strip() and all(" " <= c <= "~" for c in value)
        ):
            continue  # not a value an HTTP client can put in a header
        if location == "path" and not value.strip():
            continue  # an empty path segment makes another URL (the collection's)
        path_parameters = {
            p["name"]: PATH_DEFAULTS[p["name"]](path)
            for p in schema.raw_schema["paths"][path][method.lower()].get("parameters", [])
            if p["in"] == "path"
        }
        headers = {"Authorization": f"Bearer {STATE['token']}"}
        headers.update(
            (p.name, HEADER_DEFAULTS[p.name.lower()])
            for p in operation.headers
            if p.name.lower() in HEADER_DEFAULTS
        )
        query = {}
        {"path": path_parameters, "query": query, "header": headers}[location][name] = value
        body: dict[str, Any] = {}
        if label in BODIES:
            body["media_type"], body["body"] = BODIES[label]
        case = operation.Case(path_parameters=path_parameters, query=query, headers=headers, **body)
        try:
            response = case.call(app=fuzz_app)
        except Exception as exc:
            # An exception the error handlers did not turn into a response: a 500 to a client.
            CALLS[(label, "hostile", 500)] += 1
            failures.append(f"{value[:40]!r}: the app raised {exc!r}")
            continue
        CALLS[(label, "hostile", response.status_code)] += 1
        try:
            case.validate_response(response, checks=CHECKS, transport_kwargs={"app": fuzz_app})
        except BaseExceptionGroup as exc:  # schemathesis' FailureGroup
            found = "; ".join(
                f"{getattr(f, 'title', type(f).__name__)}: {getattr(f, 'message', f)}"
                for f in exc.exceptions
            )
            failures.append(
                f"{value[:40]!r} -> {response.status_code} {response.text[:300]}\n    {found}"
            )
    assert not failures, "\n".join(failures)


def _report() -> None:
    """Calls per operation, by generation mode and status (visible with ``pytest -s``)."""
    operations = sorted({label for label, _, _ in CALLS})
    print(f"\nfuzzing: {len(operations)} operations, {sum(CALLS.values())} calls")
    for label in operations:
        print(f"  {label}")
        for mode in ("positive", "negative", "hostile"):
            statuses = {
                s: n for (other, m, s), n in sorted(CALLS.items()) if (other, m) == (label, mode)
            }
            if statuses:
                print(f"    {mode}: {sum(statuses.values())} {statuses}")
