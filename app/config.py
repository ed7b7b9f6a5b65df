from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self

import platformdirs
from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DATABASE_FILE = "crisis-tracker.db"
# The values of libpq's target_session_attrs that connect only to a primary.
PRIMARY = ("read-write", "primary")
# Where the embedded database lived before it moved to the user data directory: relative to
# the working directory, so each directory a command ran in had a database of its own.
LOCAL_DATA_DIR = Path("data")


def _servers(url: URL) -> list[str]:
    """The servers a URL names, however it names them: host=a&host=b, host=a,b, or a,b
    in place of the host (libpq takes them all)."""
    named = url.query.get("host", ())
    hosts = [named] if isinstance(named, str) else list(named)
    if url.host:
        hosts.append(url.host)
    return [server for host in hosts for server in host.split(",") if server]


class Settings(BaseSettings):
    """Settings, read from environment variables prefixed with ``TRACKER_``."""

    model_config = SettingsConfigDict(env_prefix="TRACKER_", extra="ignore")

    # Unset means an embedded SQLite file in ``data_dir``.
    database_url: str | None = None
    # Unset: ./data when it holds a database (data_dir_is_local), otherwise the platform's
    # user data directory, so that every command finds the same database wherever it runs.
    data_dir: Path = Path()
    # How long a request waits to connect to PostgreSQL, in seconds: with the database
    # down, requests fail this fast. A pooled connection gets half as long to answer its
    # ping (app.db), so a frozen database fails requests within about 1.5 times this.
    database_timeout: float = Field(default=2.0, gt=0)
    # Database connections of each server process: pool_size kept open, up to
    # pool_max_overflow more under load. As many API requests are at work at once in a
    # process; the others wait their turn, up to pool_timeout seconds, then get a 503 that
    # says the service is busy (app.http.admission). One caller holds at most
    # max_requests_per_caller of the places: 3. Each more request of one token at work at once
    # makes another user's write wait longer behind it on this project's 2-core machine (60
    # simultaneous sitreps of one token, another officer's sitrep meanwhile, p50/p95: SQLite
    # 27/51 ms with 2, 37-49/56-72 with 3, 80/183 with 7, half the pool; PostgreSQL 22/35,
    # 21/31 and 24/41; 9-12/12-17 ms idle). Not fewer: while the database does not answer,
    # each request of a caller beyond these waits for one to fail before it fails in turn, so
    # that with 2 the third of an officer's simultaneous requests failed after 4 s, not 2.
    pool_size: int = Field(default=5, ge=1)
    pool_max_overflow: int = Field(default=10, ge=0)
    pool_timeout: float = Field(default=30.0, gt=0)
    max_requests_per_caller: int = Field(default=3, ge=1)
    # How long an SQLite writer waits for another to finish, in seconds. Writers queue
    # rather than fail; this bounds the queue.
    sqlite_busy_timeout: float = Field(default=30.0, gt=0)
    # A PostgreSQL hot standby for reads (GET requests). Unset: everything goes to the
    # primary.
    database_replica_url: str | None = None
    # A replica further behind the primary than this, in seconds, is not read from.
    replica_max_lag_seconds: float = Field(default=5.0, gt=0)
    # Connections go through PgBouncer in transaction pooling mode: no server-side
    # prepared statements, since consecutive transactions may run on different servers.
    database_pgbouncer: bool = False
    max_lines_per_sitrep: int = Field(default=1000, ge=1)
    max_sitreps_per_batch: int = Field(default=500, ge=1)
    # The largest request body accepted, in bytes (a full batch of 500 sitreps fits).
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    # The longest wait, in seconds, for the next piece of a request body (a 408 after it):
    # bodies are read whole before the request takes anything (app.http.limits).
    body_timeout: float = Field(default=30.0, gt=0)
    # An import reads at most this many rows of data, and spends at most this much processor
    # time reading and checking them (app.imports.sheets.Limits); more is a 413.
    import_max_rows: int = Field(default=20_000, ge=1)
    import_cpu_seconds: float = Field(default=60.0, gt=0)
    # Requests per minute per user (whichever of its tokens it sends; per client address
    # without a valid token), on average; 0 turns the limit off. Bursts of up to
    # rate_limit_burst requests pass at once (app.http.limits says how both are counted).
    rate_limit_per_minute: int = Field(default=600, ge=0)
    rate_limit_burst: int = Field(default=60, ge=1)
    # A Redis server (redis://host:6379/0) where the rate limit is counted, so that it holds
    # across every worker and server; unset, each server process counts on its own.
    redis_url: str | None = None
    # Prefix of the keys in Redis, for several deployments (or test runs) sharing one.
    redis_key_prefix: str = Field(default="crisis-tracker", min_length=1)
    # Database deadlines on PostgreSQL, in seconds (0: none): a statement that runs longer,
    # or waits longer for a lock, is cancelled and the request is a 503 that says which.
    statement_timeout: float = Field(default=30.0, ge=0)
    lock_timeout: float = Field(default=10.0, ge=0)
    # How long, in seconds, a server process trusts an API token it has checked before it
    # checks it in the database again: a revoked token, or a user's changed role or scope,
    # takes effect in every worker within this long. At most 1; 0 checks every request.
    auth_cache_seconds: float = Field(default=1.0, ge=0, le=1)
    # Origins allowed to call the API from a browser (comma-separated). None by default:
    # no CORS headers at all.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Idempotency keys are kept at least this long.
    idempotency_ttl_hours: float = Field(default=24, ge=24)
    # A request that claimed a key and has not answered after this long is taken for dead,
    # and a retry with the key runs again.
    idempotency_lease_seconds: float = Field(default=120, gt=0)
    page_limit_default: int = Field(default=100, ge=1)
    page_limit_max: int = Field(default=1000, ge=1)
    # Exports stream their rows from the database this many at a time.
    export_batch_rows: int = Field(default=1000, ge=1)
    # Logs of `crisis-tracker serve`: one JSON object per line, or text for a terminal.
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # When set, GET /metrics needs "Authorization: Bearer <this>"; unset, it is open like
    # /healthz (keep it off the public network).
    metrics_token: SecretStr | None = None
    # On SIGTERM the server stops accepting connections and lets requests in flight finish
    # for up to this many seconds before cancelling them.
    shutdown_timeout: int = Field(default=30, ge=0)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    _data_dir_is_local: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _default_data_dir(self) -> Self:
        if "data_dir" not in self.model_fields_set:
            if (LOCAL_DATA_DIR / DATABASE_FILE).is_file():
                self.data_dir = LOCAL_DATA_DIR.resolve()
                self._data_dir_is_local = self.database_url is None
            else:
                self.data_dir = Path(platformdirs.user_data_dir("crisis-tracker", appauthor=False))
        return self

    @property
    def data_dir_is_local(self) -> bool:
        """The database is the one found in ./data, with no setting naming it."""
        return self._data_dir_is_local

    @model_validator(mode="after")
    def _replica_needs_postgres(self) -> Self:
        if self.database_replica_url is None:
            return self
        for name, url in (
            ("TRACKER_DATABASE_URL", self.database_url),
            ("TRACKER_DATABASE_REPLICA_URL", self.database_replica_url),
        ):
            if not (url or "").startswith("postgresql"):
                raise ValueError(f"a read replica needs PostgreSQL; {name} is not a PostgreSQL URL")
        return self

    @model_validator(mode="after")
    def _database_urls_name_their_servers(self) -> Self:
        for name, url, writes in (
            ("TRACKER_DATABASE_URL", self.database_url, True),
            ("TRACKER_DATABASE_REPLICA_URL", self.database_replica_url, False),
        ):
            if url is None:
                continue
            try:
                parsed = make_url(url)
            except (ArgumentError, ValueError):
                raise ValueError(
                    f"{name} is not a database URL (one server: postgresql+psycopg://user@"
                    "host:5432/database; several: postgresql+psycopg://user@/database"
                    "?host=a:5432&host=b:5432&target_session_attrs=read-write)"
                ) from None
            to_primary = parsed.query.get("target_session_attrs") in PRIMARY
            if writes and len(_servers(parsed)) > 1 and not to_primary:
                # Without it libpq takes the first server that answers, which after a
                # failover is the demoted one: every write would be refused as read-only.
                raise ValueError(
                    f"{name} names several servers: add target_session_attrs=read-write, so "
                    "that the service always writes to whichever of them is the primary"
                )
        return self

    @property
    def pool_capacity(self) -> int:
        return self.pool_size + self.pool_max_overflow

    @property
    def per_caller_capacity(self) -> int:
        return min(self.pool_capacity, self.max_requests_per_caller)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / DATABASE_FILE).resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
