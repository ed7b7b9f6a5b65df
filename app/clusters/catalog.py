"""The clusters (and the Cash Working Group) and the sectors each coordinates."""

from dataclasses import dataclass

from app.errors import NotFound


@dataclass(frozen=True, slots=True)
class Cluster:
    code: str
    name: str
    sectors: tuple[str, ...]
    lead_agencies: tuple[str, ...]
    note: str


CLUSTERS: dict[str, Cluster] = {
    c.code: c
    for c in (
        Cluster(
            "cccm",
            "Camp Coordination and Camp Management Cluster",
            ("cccm",),
            ("IOM", "UNHCR"),
            "IOM co-leads in natural disasters, UNHCR in conflict.",
        ),
        Cluster(
            "shelter",
            "Shelter Cluster",
            ("shelter",),
            ("IFRC", "UNHCR"),
            "IFRC convenes in natural disasters, UNHCR leads in conflict.",
        ),
        Cluster("wash", "WASH Cluster", ("wash",), ("UNICEF",), "UNICEF leads."),
        Cluster("health", "Health Cluster", ("health",), ("WHO",), "WHO leads."),
        Cluster(
            "cwg",
            "Cash Working Group",
            ("cash",),
            ("OCHA",),
            "Not an IASC cluster; coordinated alongside the clusters.",
        ),
    )
}


def get_cluster(code: str) -> Cluster:
    cluster = CLUSTERS.get(code)
    if cluster is None:
        raise NotFound(f"There is no cluster {code!r}; clusters are {', '.join(CLUSTERS)}.")
    return cluster


def cluster_of_sector(sector: str) -> Cluster:
    return next(c for c in CLUSTERS.values() if sector in c.sectors)
