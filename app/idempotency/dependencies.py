import hashlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Header, Request, Response
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from app.auth import service as auth
from app.auth.models import User
from app.db import new_session
from app.errors import Unauthorized
from app.http import callers
from app.i18n import _
from app.idempotency import service as idempotency

REPLAYED = "Idempotent-Replayed"

logger = logging.getLogger(__name__)


class Replay(Exception):
    def __init__(self, answer: idempotency.StoredAnswer) -> None:
        super().__init__()
        self.answer = answer


async def replay_response(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Replay)
    return Response(
        exc.answer.body,
        status_code=exc.answer.status,
        headers={**exc.answer.headers, REPLAYED: "true"},
        media_type="application/json",
    )


class Idempotency:
    """Answers a write, and stores the answer when the request carried an
    Idempotency-Key."""

    def __init__(self, claim: idempotency.Claim | None) -> None:
        self.claim = claim

    def respond(
        self,
        session: Session,
        content: BaseModel,
        *,
        status_code: int,
        headers: dict[str, str] | None = None,
    ) -> Response:
        body = content.model_dump_json()
        headers = headers or {}
        if self.claim is not None:
            idempotency.complete(
                session, self.claim, status=status_code, headers=headers, body=body
            )
        return Response(
            body, status_code=status_code, headers=headers, media_type="application/json"
        )


def _user_of(request: Request) -> User:
    failed = callers.failure(request.scope)
    if failed is not None:
        raise failed  # as current_user does: the database just did not answer
    with new_session() as session:
        user = auth.authenticate_header(
            session, authorization=request.headers.get("Authorization", "")
        )
    if user is None:
        raise Unauthorized(_("Send a valid API token as 'Authorization: Bearer <token>'."))
    return user


async def _content(request: Request) -> bytes:
    """What a request sends: its body, or, for a multipart form, its fields and files,
    without the boundary a client picks afresh for each try."""
    body = await request.body()  # read whole first: parsing the form then reads the copy
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "multipart/form-data":
        return body
    try:
        form = await request.form()
    except (MultiPartException, HTTPException):
        return body  # the endpoint says what is wrong with it
    parts = []
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            data = await value.read()
            await value.seek(0)
        else:
            data = value.encode()
        parts.append(hashlib.sha256(name.encode()).digest() + hashlib.sha256(data).digest())
    return b"multipart:" + b"".join(sorted(parts))


async def _idempotency(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="A unique key (a UUID) per intended write: retrying with the same key "
            "returns the first answer instead of writing twice. Kept 24 hours.",
            # Documented, not enforced here: a malformed key is a 400 from check_key.
            json_schema_extra={"pattern": idempotency.VALID_KEY.pattern},
        ),
    ] = None,
) -> AsyncIterator[Idempotency]:
    if idempotency_key is None:
        yield Idempotency(None)
        return
    user = await run_in_threadpool(_user_of, request)
    idempotency.check_key(idempotency_key)
    # The query is part of the request: a dry run and the real run are two requests.
    target = request.url.path
    if request.query_params:
        target += "?" + urlencode(sorted(request.query_params.multi_items()))
    fingerprint = idempotency.fingerprint(request.method, target, await _content(request))
    claimed = await run_in_threadpool(
        idempotency.claim, user_id=user.id, key=idempotency_key, fingerprint=fingerprint
    )
    if isinstance(claimed, idempotency.StoredAnswer):
        raise Replay(claimed)
    try:
        yield Idempotency(claimed)
    except BaseException:
        try:
            await run_in_threadpool(idempotency.release, claimed)
        except SQLAlchemyError:
            # The database went away with the request (or the pool had no connection left):
            # the claim is released once it answers again, and the client hears about what
            # failed its request, not about the claim.
            logger.warning(
                "could not release an idempotency claim; released when the database is back"
            )
            idempotency.unreleased.add(claimed)
        raise


# Declare it as an endpoint's first parameter: set up before the request's session and torn
# down after it, so that a failed request's claim is released once its transaction is over.
IdempotencyDep = Annotated[Idempotency, Depends(_idempotency, scope="function")]
