from pydantic import BaseModel, ConfigDict

from app.auth.models import Role


class UserRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 12,
                    "name": "amal.hassan",
                    "role": "field",
                    "countries": ["SDN"],
                    "clusters": [],
                }
            ]
        }
    )

    id: int
    name: str
    role: Role
    countries: list[str]
    clusters: list[str]
