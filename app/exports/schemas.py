from pydantic import BaseModel, ConfigDict

from app.clusters.schemas import FEED_ITEM_EXAMPLE, FeedItem


class LinesExport(BaseModel):
    """The JSON export of sitrep lines: the items of the cluster feed, all of them."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [FEED_ITEM_EXAMPLE]}]})

    items: list[FeedItem]
