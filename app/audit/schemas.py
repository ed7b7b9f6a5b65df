from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict

from app.schemas import no_nul
from app.sitreps.schemas import SITREP_REVISION_EXAMPLE

EntityType = Literal["sitrep", "crisis", "user", "token", "import", "needs"]
# What an event records; every write names one (app.audit.service.record).
Action = Literal[
    "sitrep.submit",
    "sitrep.amend",
    "sitrep.withdraw",
    "crisis.create",
    "user.create",
    "token.issue",
    "token.revoke",
    "import.run",
    "needs.load",
]


def _in_utc_range(value: datetime | None) -> datetime | None:
    # Stored times are UTC; 0001-01-01T00:00+14:00 or 9999-12-31T23:59-14:00 have no UTC
    # equivalent, and converting them would fail the query.
    if value is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is out of range once converted to UTC") from None
    return value


# Query filters that are compared with stored values.
FilterText = Annotated[str | None, AfterValidator(no_nul)]
FilterTime = Annotated[AwareDatetime | None, AfterValidator(_in_utc_range)]


class AuditEventRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 981,
                    "occurred_at": SITREP_REVISION_EXAMPLE["submitted_at"],
                    "actor": "amal.hassan",
                    "action": "sitrep.submit",
                    "entity_type": "sitrep",
                    "entity_id": 42,
                    "request_id": "6c50cbb416fd46e98b9edbef38bdf61e",
                    "before": None,
                    # The sitrep as accepted; who and when are the event's own.
                    "after": {
                        k: v
                        for k, v in SITREP_REVISION_EXAMPLE.items()
                        if k not in ("submitted_by", "submitted_at")
                    },
                }
            ]
        }
    )

    id: int
    occurred_at: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: int | None
    request_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
