from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse
from fastapi_offline import FastAPIOffline
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from app.audit.router import router as audit_router
from app.auth import service as auth
from app.auth.router import router as auth_router
from app.clusters.router import router as clusters_router
from app.config import get_settings
from app.crises.router import router as crises_router
from app.dashboard.router import router as dashboard_router
from app.db import get_engine
from app.exports.formats import MEDIA_TYPES, Format
from app.exports.router import router as exports_router
from app.http import metrics
from app.http.admission import AdmissionMiddleware
from app.http.callers import CallerMiddleware, Identify
from app.http.health import router as health_router
from app.http.limits import BodyMiddleware, RateLimitMiddleware
from app.http.methods import MethodsMiddleware
from app.http.parameters import EmptyQueryParametersMiddleware, known_query_parameters
from app.http.problems import UnexpectedErrorMiddleware, install_error_handlers
from app.http.requests import RequestIdMiddleware, route_templates
from app.i18n import LanguageMiddleware
from app.idempotency.dependencies import Replay, replay_response
from app.imports.router import router as imports_router
from app.needs.router import router as needs_router
from app.openapi import complete, problem_responses
from app.reference.router import router as reference_router
from app.reporting.router import router as reporting_router
from app.schema import require_migrated
from app.sectors.router import router as sectors_router
from app.sitreps.router import router as sitreps_router
from app.totals.router import router as totals_router

DESCRIPTION = """
Records what IOM does in emergencies, by sector, DHRR division and MCOF phase, and tells
headquarters how many people were reached per country and year.

Authenticate with `Authorization: Bearer <token>` (tokens come from
`crisis-tracker users create`). Errors are `application/problem+json` (RFC 9457).
"""


# Answers smaller than this go as they are: gzip would save a few bytes, if any, and cost
# a compression per request. A sitrep with a couple of lines is already larger.
GZIP_MINIMUM_BYTES = 1024
# zlib's default level: nearly the size of level 9 (Starlette's default) for a fraction of
# its CPU, on 2-core servers that also compress streamed exports.
GZIP_LEVEL = 6


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    metrics.watch_pool(get_engine())  # makes the engine object; connects to nothing yet
    # Every request admitted at once (app.http.admission) has a thread when it needs one.
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = max(limiter.total_tokens, 2 * get_settings().pool_capacity)
    # Built from the OpenAPI document (a fraction of a second): now, not in a request.
    route_templates(app)
    yield
    metrics.process_exit()


def _home() -> RedirectResponse:
    """A browser pointed at the service lands on the dashboard (the API is at /docs)."""
    return RedirectResponse("/dashboard/", status_code=302)


def create_app() -> FastAPI:
    # /docs and /redoc load Swagger UI and ReDoc from the copies inside the installed
    # fastapi-offline package, served below /docs/static: they work with no internet.
    app = FastAPIOffline(
        title="crisis-tracker",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        static_url="/docs/static",
        # Swagger UI would otherwise show a badge fetched from validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    )
    install_error_handlers(app)
    app.add_exception_handler(Replay, replay_response)
    settings = get_settings()
    # Added last runs first: the request id is set before anything can refuse a request.
    # JSON, CSV and HXL answers, streamed exports included, are compressed for clients that
    # accept gzip; XLSX files are ZIP archives already, and the dashboard compresses its
    # own files once (app.dashboard.assets), which the middleware leaves as they are.
    app.add_middleware(
        GZipMiddleware,
        minimum_size=GZIP_MINIMUM_BYTES,
        compresslevel=GZIP_LEVEL,
        exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, MEDIA_TYPES[Format.xlsx]),
    )
    # Outside the compression, so that HEAD has the headers of the compressed GET.
    app.add_middleware(MethodsMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-Match",
                "X-Request-ID",
            ],
            expose_headers=[
                "ETag",
                "Location",
                "Link",
                "Retry-After",
                "X-Request-ID",
                "Idempotent-Replayed",
            ],
        )
    # Inside the rate limit: a refused request takes no place.
    app.add_middleware(
        AdmissionMiddleware,
        capacity=settings.pool_capacity,
        per_caller=settings.per_caller_capacity,
        timeout=settings.pool_timeout,
    )
    # The whole body before admission: no place is held while a client sends slowly.
    app.add_middleware(
        BodyMiddleware, max_bytes=settings.max_body_bytes, timeout=settings.body_timeout
    )
    if settings.rate_limit_per_minute:
        app.add_middleware(
            RateLimitMiddleware,
            per_minute=settings.rate_limit_per_minute,
            burst=settings.rate_limit_burst,
            redis_url=settings.redis_url,
            key_prefix=settings.redis_key_prefix,
        )
    # Who calls, for the rate limit and for a 401 before a 422 (app.http.callers).
    app.add_middleware(
        CallerMiddleware,
        identify=Identify(
            key=auth.token_key, cached=auth.cached_user_id, look_up=auth.look_up_user_id
        ),
    )
    app.add_middleware(EmptyQueryParametersMiddleware)
    app.add_middleware(UnexpectedErrorMiddleware)
    # Outside the limits and the last-resort 500, so that refused and failed requests are
    # counted and logged too; inside the request id, so that the access line carries it.
    app.add_middleware(metrics.RequestsMiddleware)
    # The language of messages is chosen before anything can refuse the request.
    app.add_middleware(LanguageMiddleware)
    app.add_middleware(RequestIdMiddleware)
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate_openapi()
            complete(document)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
    api = APIRouter(
        prefix="/api/v1",
        responses=problem_responses(401, 408, 413, 415, 422, 429, 503),
        dependencies=[Depends(require_migrated), Depends(known_query_parameters)],
    )
    for router in (
        auth_router,
        sectors_router,
        reference_router,
        clusters_router,
        crises_router,
        sitreps_router,
        imports_router,
        totals_router,
        needs_router,
        reporting_router,
        exports_router,
        audit_router,
    ):
        api.include_router(router)
    app.include_router(health_router)
    app.include_router(dashboard_router)
    # Routes of the application itself, outside the OpenAPI document.
    app.add_api_route("/", _home, include_in_schema=False)
    app.add_api_route("/metrics", metrics.read_metrics, include_in_schema=False)
    app.include_router(api)
    return app
