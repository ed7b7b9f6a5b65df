from functools import lru_cache

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from fastapi import APIRouter

from app.db import alembic_config, get_engine, get_replica
from app.errors import ServiceUnavailable, problem_responses

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
        with get_engine().connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
    except Exception as exc:
        raise ServiceUnavailable("The database does not answer.") from exc
    script = shipped_migrations()
    heads = script.get_heads()
    # A database a newer release has migrated (a rolling upgrade) is ready too: its
    # migrations are not pending for this release, and they keep the schema compatible.
    if set(current) == set(heads) or any(not _shipped(script, r) for r in current):
        answer = {"status": "ok", "database": "ok", "migrations": ",".join(current)}
        replica = get_replica()
        if replica is not None:
            # The last known state, checked at most once a second in the background: a
            # replica that does not answer never makes this probe slow.
            answer["replica"] = replica.state().status
        return answer
    current_text = ", ".join(current) or "none (an empty database)"
    raise MigrationsPending(
        f"Migrations are pending: the database is at {current_text}, this release needs "
        f"{', '.join(heads)}. Run `crisis-tracker db upgrade`.",
        current_revision=",".join(current) or None,
        head_revision=",".join(heads),
    )
