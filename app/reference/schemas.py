from pydantic import BaseModel


class CodeName(BaseModel):
    code: str
    name: str


class DivisionRead(CodeName):
    description: str


class PhaseRead(CodeName):
    description: str


class CountryRead(CodeName):
    region: str | None
    admin1_count: int


class AdminAreaRead(CodeName):
    level: int
    parent: str
