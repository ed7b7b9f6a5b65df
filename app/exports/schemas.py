from pydantic import BaseModel

from app.clusters.schemas import FeedItem


class LinesExport(BaseModel):
    """The JSON export of sitrep lines: the items of the cluster feed, all of them."""

    items: list[FeedItem]
