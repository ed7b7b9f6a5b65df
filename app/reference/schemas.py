from pydantic import BaseModel, ConfigDict


class CodeName(BaseModel):
    code: str
    name: str


class DivisionRead(CodeName):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "hod",
                    "name": "Humanitarian Operations",
                    "description": "Emergency response: shelter, WASH, camp management, cash and "
                    "health in crises.",
                }
            ]
        }
    )

    description: str


class PhaseRead(CodeName):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "response",
                    "name": "Response",
                    "description": "During a crisis: life-saving assistance and protection.",
                }
            ]
        }
    )

    description: str


class CountryRead(CodeName):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"code": "SDN", "name": "Sudan", "region": "Africa", "admin1_count": 19}]
        }
    )

    region: str | None
    admin1_count: int


class AdminAreaRead(CodeName):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"code": "SD02", "name": "North Darfur", "level": 1, "parent": "SDN"},
                {"code": "SD02114", "name": "Al Fasher", "level": 2, "parent": "SD02"},
            ]
        }
    )

    level: int
    parent: str
