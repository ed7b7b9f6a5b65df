from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth import service as auth
from app.auth.models import User
from app.db import SessionDep, new_session, reads_replica
from app.errors import Unauthorized
from app.i18n import _

_bearer = HTTPBearer(
    auto_error=False, description="An API token from `crisis-tracker users create`."
)


def current_user(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None:
        raise Unauthorized(_("Send an API token as 'Authorization: Bearer <token>'."))
    user = auth.authenticate(session, token=credentials.credentials)
    if user is None and reads_replica(session):
        # A token issued a moment ago may not have reached the replica yet.
        with new_session() as primary:
            user = auth.authenticate(primary, token=credentials.credentials)
    if user is None:
        raise Unauthorized(_("The API token is not valid, or it has been revoked."))
    return user


CurrentUser = Annotated[User, Depends(current_user)]
