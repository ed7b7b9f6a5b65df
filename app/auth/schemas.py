from pydantic import BaseModel

from app.auth.models import Role


class UserRead(BaseModel):
    id: int
    name: str
    role: Role
    countries: list[str]
    clusters: list[str]
