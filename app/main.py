from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse
from fastapi_offline import FastAPIOffline
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from app import metrics
from app.admission import AdmissionMiddleware
from app.audit.router import router as audit_router
from app.auth.router import router as auth_router
from app.clusters.router import router as clusters_router
from app.config import get_settings
from app.crises.router import router as crises_router
from app.dashboard.router import router as dashboard_router
from app.db import get_engine
from app.errors import (
    UnexpectedErrorMiddleware,
    install_error_handlers,
    problem_responses,
    use_problem_media_type,
)
from app.exports.formats import MEDIA_TYPES, Format
from app.exports.router import router as exports_router
from app.health import router as health_router
from app.i18n import LanguageMiddleware
from app.idempotency.dependencies import Replay, replay_response
from app.imports.router import router as imports_router
from app.limits import BodySizeLimitMiddleware, RateLimitMiddleware
from app.methods import MethodsMiddleware
from app.needs.router import router as needs_router
from app.parameters import EmptyQueryParametersMiddleware, known_query_parameters
from app.reference.router import router as reference_router
from app.reporting.router import router as reporting_router
from app.requests import RequestIdMiddleware, route_templates
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
    # Every request admitted at once (app.admission) has a thread when it needs one.
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = max(limiter.total_tokens, 2 * get_settings().pool_capacity)
    # Built from the OpenAPI document (a fraction of a second): now, not in a request.
    route_templates(app)
    yield
    metrics.process_exit()


def _allows_null(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "null" or any(
        branch.get("type") == "null" for branch in schema.get("anyOf", [])
    )


def _restore_nulls(openapi: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    """Puts back the nulls of required fields in ``value``, an example of ``schema``."""
    while "$ref" in schema:
        schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for branch in schema.get("anyOf", []):
        _restore_nulls(openapi, branch, value)
    if isinstance(value, list) and "items" in schema:
        for item in value:
            _restore_nulls(openapi, schema["items"], item)
    elif isinstance(value, dict) and schema.get("type") == "object":
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value and _allows_null(properties.get(name, {})):
                value[name] = None
        for name, member in value.items():
            if name in properties:
                _restore_nulls(openapi, properties[name], member)


def restore_example_nulls(openapi: dict[str, Any]) -> None:
    """FastAPI writes the document without any null (``exclude_none``), examples included,
    which leaves them without the required fields whose value is null (a line's admin2):
    put those back, so that every example is valid against its schema."""
    for schema in openapi.get("components", {}).get("schemas", {}).values():
        for example in schema.get("examples", []):
            _restore_nulls(openapi, schema, example)
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            contents = [operation.get("requestBody", {}).get("content", {})]
            contents += [r.get("content", {}) for r in operation.get("responses", {}).values()]
            for media in (m for content in contents for m in content.values()):
                examples = [e["value"] for e in media.get("examples", {}).values()]
                for example in [media["example"]] if "example" in media else examples:
                    _restore_nulls(openapi, media.get("schema", {}), example)


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
    if settings.rate_limit_per_minute:
        app.add_middleware(
            RateLimitMiddleware,
            per_minute=settings.rate_limit_per_minute,
            burst=settings.rate_limit_burst,
            redis_url=settings.redis_url,
            key_prefix=settings.redis_key_prefix,
        )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
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
            use_problem_media_type(document)
            restore_example_nulls(document)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
    api = APIRouter(
        prefix="/api/v1",
        responses=problem_responses(401, 413, 415, 422, 429, 503),
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
