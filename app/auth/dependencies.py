from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from app.auth import service as auth
from app.auth.models import User
from app.db import SessionDep
from app.errors import Unauthorized
from app.http import callers
from app.i18n import _

_bearer = HTTPBearer(
    auto_error=False, description="An API token from `crisis-tracker users create`."
)


async def current_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None:
        raise Unauthorized(_("Send an API token as 'Authorization: Bearer <token>'."))
    failed = callers.failure(request.scope)
    if failed is not None:
        # The token was just looked up (app.http.callers) and the database did not answer:
        # that is the answer, without waiting for the database a second time.
        raise failed
    # A token checked within the last second is answered from memory, on the event loop;
    # only a lookup in the database goes to a thread.
    user = auth.cached_user(credentials.credentials)
    if user is None:
        user = await run_in_threadpool(auth.authenticate, session, token=credentials.credentials)
    if user is None:
        raise Unauthorized(_("The API token is not valid, or it has been revoked."))
    return user


CurrentUser = Annotated[User, Depends(current_user)]
