from pydantic import BaseModel

from app.sectors.service import IndicatorKind


class IndicatorRead(BaseModel):
    code: str
    name: str
    kind: IndicatorKind


class SectorRead(BaseModel):
    code: str
    name: str
    description: str
    cluster: str
    indicators: list[IndicatorRead]
