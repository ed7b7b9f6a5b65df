from fastapi import APIRouter

from app import schema
from app.db import get_engine, get_replica
from app.errors import ServiceUnavailable
from app.openapi import problem_responses

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    responses={
        200: {"content": {"application/json": {"example": {"status": "ok"}}}},
        # Every request, this one too, passes the body size limit.
        **problem_responses(413),
    },
)
def healthz() -> dict[str, str]:
    """200 while the process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {"status": "ok", "database": "ok", "migrations": "3f1c2a7d9b10"}
                }
            }
        },
        **problem_responses(503),
    },
)
def readyz() -> dict[str, str]:
    """200 when the database answers and its schema is at the head of the migrations this
    release ships: `{"status": "ok", "database": "ok", "migrations": "<revision>"}`.
    Otherwise 503: the database does not answer, or migrations are pending (the problem
    names the database's `current_revision` and the `head_revision`; run
    `crisis-tracker db upgrade`). With a read replica,
    `replica` says whether reads go to it (`ok`) or to the primary (`lagging`, `down`,
    `not a standby`, or `unknown` until it is first checked); a replica that is not `ok`
    is no reason for a 503, since reads then go to the primary."""
    try:
        current = schema.check(get_engine())
    except schema.MigrationsPending:
        raise
    except Exception as exc:
        raise ServiceUnavailable("The database does not answer.") from exc
    answer = {"status": "ok", "database": "ok", "migrations": ",".join(current)}
    replica = get_replica()
    if replica is not None:
        # The last known state, checked at most once a second in the background: a
        # replica that does not answer never makes this probe slow.
        answer["replica"] = replica.state().status
    return answer
