from fastapi import APIRouter

from app.auth.dependencies import CurrentUser
from app.clusters import catalog as clusters
from app.sectors.catalog import SECTORS
from app.sectors.schemas import IndicatorRead, SectorRead

router = APIRouter(tags=["reference"])


@router.get("/sectors", response_model=list[SectorRead])
def list_sectors(_user: CurrentUser) -> list[SectorRead]:
    """The sectors a sitrep line can report, with the indicators each sector may carry
    and the cluster that coordinates it."""
    return [
        SectorRead(
            code=s.code,
            name=s.name,
            description=s.description,
            cluster=clusters.cluster_of_sector(s.code).code,
            indicators=[IndicatorRead(code=i.code, name=i.name, kind=i.kind) for i in s.indicators],
        )
        for s in SECTORS.values()
    ]
