"""The five sectors and the indicators each may report."""

from dataclasses import dataclass, field
from typing import Literal

IndicatorKind = Literal["count", "usd"]


@dataclass(frozen=True, slots=True)
class Indicator:
    code: str
    name: str
    kind: IndicatorKind


@dataclass(frozen=True, slots=True)
class Sector:
    code: str
    name: str
    description: str
    indicators: tuple[Indicator, ...]
    # The indicators by code: every line of every write looks its indicators up.
    _by_code: dict[str, Indicator] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_code", {i.code: i for i in self.indicators})

    def indicator(self, code: str) -> Indicator | None:
        return self._by_code.get(code)


SECTORS: dict[str, Sector] = {
    s.code: s
    for s in (
        Sector(
            "shelter",
            "Shelter and Settlements",
            "Emergency and transitional shelter, settlements and non-food items.",
            (
                Indicator("households_assisted", "Households assisted", "count"),
                Indicator("shelter_kits", "Shelter kits distributed", "count"),
            ),
        ),
        Sector(
            "wash",
            "Water, Sanitation and Hygiene",
            "Safe water, sanitation facilities and hygiene promotion.",
            (
                Indicator("water_points", "Water points built or rehabilitated", "count"),
                Indicator("latrines", "Latrines built or rehabilitated", "count"),
            ),
        ),
        Sector(
            "cccm",
            "Camp Coordination and Camp Management",
            "Displacement management: managing and coordinating sites hosting displaced people.",
            (
                Indicator("sites_managed", "Sites managed", "count"),
                Indicator("idps_in_sites", "Internally displaced people in managed sites", "count"),
            ),
        ),
        Sector(
            "cash",
            "Cash-based interventions",
            "Cash and vouchers, a modality used across needs.",
            (
                Indicator("cash_usd", "Cash transferred (USD)", "usd"),
                Indicator("transfers", "Transfers made", "count"),
            ),
        ),
        Sector(
            "health",
            "Health",
            "Emergency and migration health.",
            (
                Indicator("consultations", "Health consultations", "count"),
                Indicator("referrals", "Referrals", "count"),
            ),
        ),
    )
}


def sector_of_indicator(code: str) -> Sector | None:
    return next((s for s in SECTORS.values() if s.indicator(code) is not None), None)
