from functools import lru_cache

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from fastapi import APIRouter

from app.db import alembic_config, get_engine
from app.errors import ServiceUnavailable, problem_responses

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """200 while the process is up."""
    return {"status": "ok"}


@lru_cache
def shipped_migrations() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def _shipped(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


class MigrationsPending(ServiceUnavailable):
    type = "urn:crisis-tracker:problem:migrations-pending"


@router.get("/readyz", responses=problem_responses(503))
def readyz() -> dict[str, str]:
    """200 when the database answers and its schema is at the head of the migrations this
    release ships: `{"status": "ok", "database": "ok", "migrations": "<revision>"}`.
    Otherwise 503: the database does not answer, or migrations are pending (the problem
    names the database's `current_revision` and the `head_revision`; run
    `crisis-tracker db upgrade`)."""
    try:
        with get_engine().connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
    except Exception as exc:
        raise ServiceUnavailable("The database does not answer.") from exc
    script = shipped_migrations()
    heads = script.get_heads()
    if set(current) == set(heads):
        return {"status": "ok", "database": "ok", "migrations": ",".join(current)}
    if any(not _shipped(script, revision) for revision in current):
        # A newer release has migrated the database (a rolling upgrade): its migrations
        # are not pending for this one, and they keep the schema compatible.
        return {"status": "ok", "database": "ok", "migrations": ",".join(current)}
    current_text = ", ".join(current) or "none (an empty database)"
    raise MigrationsPending(
        f"Migrations are pending: the database is at {current_text}, this release needs "
        f"{', '.join(heads)}. Run `crisis-tracker db upgrade`.",
        current_revision=",".join(current) or None,
        head_revision=",".join(heads),
    )
