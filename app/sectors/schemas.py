from pydantic import BaseModel, ConfigDict

from app.sectors.catalog import IndicatorKind


class IndicatorRead(BaseModel):
    code: str
    name: str
    kind: IndicatorKind


class SectorRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "shelter",
                    "name": "Shelter and Settlements",
                    "description": "Emergency and transitional shelter, settlements and "
                    "non-food items.",
                    "cluster": "shelter",
                    "indicators": [
                        {
                            "code": "households_assisted",
                            "name": "Households assisted",
                            "kind": "count",
                        },
                        {
                            "code": "shelter_kits",
                            "name": "Shelter kits distributed",
                            "kind": "count",
                        },
                    ],
                }
            ]
        }
    )

    code: str
    name: str
    description: str
    cluster: str
    indicators: list[IndicatorRead]
