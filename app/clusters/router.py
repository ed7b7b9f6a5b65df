import hashlib
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Query, Request, Response

from app.auth.dependencies import CurrentUser
from app.clusters import catalog
from app.clusters import service as clusters
from app.clusters.schemas import FEED_CURSOR_EXAMPLE, FEED_ITEM_EXAMPLE, ClusterRead, FeedPage
from app.db import SessionDep
from app.openapi import problem_responses
from app.pagination import checked_limit
from app.reference.dependencies import CountryList

router = APIRouter(prefix="/clusters", tags=["clusters"])

# The feed example of FeedPage, as format=hxl writes it.
_HXL_EXAMPLE = clusters.hxl_rows(
    catalog.CLUSTERS["shelter"],
    clusters.Feed(items=[FEED_ITEM_EXAMPLE], next_cursor=FEED_CURSOR_EXAMPLE),
)


@router.get("", response_model=list[ClusterRead])
def list_clusters(_user: CurrentUser) -> list[ClusterRead]:
    """The coordination groups that pull feeds, the sectors each covers, and who leads it."""
    return [
        ClusterRead(
            code=c.code,
            name=c.name,
            sectors=list(c.sectors),
            lead_agencies=list(c.lead_agencies),
            note=c.note,
        )
        for c in catalog.CLUSTERS.values()
    ]


@router.get(
    "/{code}/feed",
    response_model=FeedPage,
    responses={
        200: {
            "description": "A page of feed items; with `format=hxl`, HXL JSON rows.",
            "content": {
                "application/json": {
                    "examples": {
                        "json": {
                            "summary": "format=json (the default)",
                            "value": FeedPage.model_json_schema()["examples"][0],
                        },
                        "hxl": {"summary": "format=hxl", "value": _HXL_EXAMPLE},
                    }
                }
            },
        },
        304: {"description": "Nothing new since the page whose ETag is in If-None-Match."},
        **problem_responses(400, 403, 404),
    },
)
def read_feed(
    code: str,
    session: SessionDep,
    user: CurrentUser,
    request: Request,
    country: CountryList = None,
    since: Annotated[
        str | None,
        Query(description="A next_cursor from an earlier call: only what changed since."),
    ] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    format: Annotated[Literal["json", "hxl"], Query()] = "json",
    if_none_match: Annotated[
        str | None,
        Header(description="The ETag of the page this poll got last time: 304 if unchanged."),
    ] = None,
) -> Response:
    """The lines of the cluster's sectors, in change order, for 4W/5W tools.

    Start without `since`: you get the live lines. Then keep calling with
    `since=<next_cursor>`: you get every line changed since (amended lines with their new
    figures, lines of withdrawn sitreps or dropped by an amendment as `status: "withdrawn"`).
    Applying every page in order (upsert by `line_id`, delete when withdrawn) leaves you
    holding exactly the live lines, with the figures `/totals` counts.

    A line may give `people_reached_cumulative` (people reached since 1 January) instead
    of a new-reach figure; its `people_reached_new` is then the increase over the latest
    earlier period of its slot that year. When an earlier period is amended or withdrawn,
    what a later cumulative line stands for changes: that line comes again as a change
    (a new position in the feed, the same `line_id` and `revision`, the new
    `people_reached_new`), so your sums stay equal to the totals.

    `next_cursor` is never null; a page shorter than `limit` means you have caught up.
    Every page has an `ETag`: poll again with the same URL and `If-None-Match: <that
    ETag>`, and an answer with nothing new is a `304 Not Modified` with no body.
    `format=hxl` returns the same items as HXL JSON rows; the next cursor is then in the
    `Link` header."""
    cluster = catalog.get_cluster(code)
    page = clusters.feed(
        session,
        cluster=cluster,
        countries=country,
        since=since,
        limit=checked_limit(limit),
        user=user,
    )
    query = {
        "since": page.next_cursor,
        "country": ",".join(country or []) or None,
        "limit": limit,
        "format": "hxl" if format == "hxl" else None,
    }
    next_url = request.url.path + "?" + urlencode({k: v for k, v in query.items() if v})
    link = f'<{next_url}>; rel="next"'
    if format == "hxl":
        content = clusters.json_bytes(clusters.hxl_rows(cluster, page))
    else:
        content = clusters.json_bytes({"items": page.items, "next_cursor": page.next_cursor})
    # The page's bytes name it: a poll that would get the same page again (nothing new
    # since its cursor) and says so with If-None-Match is a 304 with no body.
    etag = '"' + hashlib.blake2b(content, digest_size=12).hexdigest() + '"'
    headers = {"Link": link, "ETag": etag}
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(content, media_type="application/json", headers=headers)


def _matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match compares weakly (RFC 9110 section 13.1.2): W/ is ignored."""
    offered = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in offered or etag in offered
