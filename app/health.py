from fastapi import APIRouter
from sqlalchemy import text

from app.db import get_engine, get_replica
from app.errors import ServiceUnavailable, problem_responses

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """200 while the process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses=problem_responses(503))
def readyz() -> dict[str, str]:
    """200 when the database answers, otherwise 503. With a read replica, `replica` says
    whether reads go to it (`ok`) or to the primary (`lagging`, `down`, `not a standby`,
    or `unknown` until it is first checked); a replica that is not `ok` is no reason for
    a 503, since reads then go to the primary."""
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnavailable("The database does not answer.") from exc
    answer = {"status": "ok", "database": "ok"}
    replica = get_replica()
    if replica is not None:
        # The last known state, checked at most once a second in the background: a replica
        # that does not answer never makes this probe slow.
        answer["replica"] = replica.state().status
    return answer
