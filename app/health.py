from fastapi import APIRouter
from sqlalchemy import text

from app.db import get_engine
from app.errors import ServiceUnavailable, problem_responses

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """200 while the process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses=problem_responses(503))
def readyz() -> dict[str, str]:
    """200 when the database answers, otherwise 503."""
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnavailable("The database does not answer.") from exc
    return {"status": "ok", "database": "ok"}
