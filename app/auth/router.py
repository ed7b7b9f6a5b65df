from fastapi import APIRouter

from app.auth.dependencies import CurrentUser
from app.auth.schemas import UserRead

router = APIRouter(tags=["users"])


@router.get("/me", response_model=UserRead)
async def read_me(user: CurrentUser) -> UserRead:
    """The user the token belongs to, with the countries and clusters it is limited to."""
    return UserRead(
        id=user.id,
        name=user.name,
        role=user.role,
        countries=sorted(user.country_codes),
        clusters=sorted(user.cluster_codes),
    )
