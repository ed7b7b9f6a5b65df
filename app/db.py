import logging
import selectors
import threading
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import psycopg
from alembic.config import Config
from fastapi import Depends, Request
from sqlalchemy import (
    JSON,
    Connection,
    DateTime,
    Dialect,
    Engine,
    MetaData,
    TypeDecorator,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction, sessionmaker

from app.config import get_settings
from app.replica import Replica, client_key, current_lsn

logger = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# Primary keys are 32-bit integers; a larger id from a client cannot exist, and passing it to
# the database driver would fail, so ids are bounded where they enter.
MAX_ID = 2_147_483_647


# JSON documents: JSONB on PostgreSQL.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; we emit BEGIN
    # ourselves (_sqlite_begin), as SQLAlchemy's documentation recommends.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class WriterQueue:
    """Writers of one process in the order they came, for SQLite's write lock.

    SQLite's busy handler polls for the lock with growing sleeps (1 ms at first, 100 ms after
    a quarter of a second): a writer that has waited a while sleeps longest and is overtaken
    by every newcomer, so under a burst of writes one writer can wait seconds (measured: 2.25 s
    for another officer's sitrep while one token kept 60 requests in flight). Here only the
    first writer in line asks SQLite for the lock; the others wait their turn on an event,
    woken in order. The turn is held only while asking (BEGIN IMMEDIATE), not for the
    transaction, so nothing has to be given back at commit. Processes still meet at
    SQLite's own lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self._taken = False

    def take(self, timeout: float) -> bool:
        """Waits for this writer's turn, at most ``timeout`` seconds; whether it came."""
        with self._lock:
            if not self._taken:
                self._taken = True
                return True
            turn = threading.Event()
            self._waiting.append(turn)
        if turn.wait(timeout):
            return True
        with self._lock:
            if turn.is_set():  # handed over just as the wait ended
                return True
            self._waiting.remove(turn)
            return False

    def give(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()  # the turn passes on, still taken
            else:
                self._taken = False


def _sqlite_begin(queue: WriterQueue, busy_timeout: float) -> Any:
    def begin(connection: Connection) -> None:
        # A transaction that will write takes SQLite's write lock when it begins, waiting
        # for it up to the busy timeout. A deferred one that reads first could not upgrade
        # its lock once another writer had committed, and would fail with "database is
        # locked".
        if not connection.get_execution_options().get("writes", False):
            connection.exec_driver_sql("BEGIN")
            return
        # Past the busy timeout in line, it asks SQLite anyway (and waits as before).
        turn = queue.take(busy_timeout)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            if turn:
                queue.give()

    return begin


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL; None for another database or one in memory."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if parsed.query.get("uri") == "true" or database.startswith("file:"):
        return None  # an SQLite URI says itself whether the file may be created
    return Path(database)


def _open_existing(path: Path) -> Any:
    def connect(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        # SQLite creates a missing file on connect; mode=rw makes that an error instead, so
        # a command run with the wrong settings never leaves an empty database behind.
        cargs[:] = [f"{path.resolve().as_uri()}?mode=rw"]
        cparams["uri"] = True

    return connect


def make_engine(url: str, *, create: bool = False) -> Engine:
    """An engine for ``url``. An SQLite file is created, with its folder, only when
    ``create`` says so (for the migrations); otherwise a missing file fails to connect."""
    settings = get_settings()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": settings.sqlite_busy_timeout},
            pool_size=settings.pool_size,
            max_overflow=settings.pool_max_overflow,
            pool_timeout=settings.pool_timeout,
        )
        path = sqlite_file(url)
        if path is not None and create:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif path is not None:
            event.listen(engine, "do_connect", _open_existing(path))
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin(WriterQueue(), settings.sqlite_busy_timeout))
        return engine
    connect_args: dict[str, Any] = {
        "connect_timeout": max(1, int(settings.database_timeout)),
        # A network partition drops the connection after 5 s of unacknowledged data (or
        # 16 s of silence when idle) instead of leaving a request hanging on it.
        "tcp_user_timeout": 5000,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 2,
        "keepalives_count": 3,
    }
    deadlines = postgres_deadlines()
    if settings.database_pgbouncer:
        # psycopg prepares a statement on the server after its fifth run on a connection;
        # in transaction pooling the next transaction may run on a server that never saw it.
        connect_args["prepare_threshold"] = None
    else:
        # Set once per connection, in the startup packet. PgBouncer refuses startup options
        # (or drops them, with ignore_startup_parameters), so there each transaction sets
        # them instead (_set_deadlines).
        connect_args["options"] = " ".join(f"-c {name}={ms}" for name, ms in deadlines.items())
    engine = create_engine(
        parsed,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_max_overflow,
        pool_timeout=settings.pool_timeout,
        connect_args=connect_args,
    )
    # Instead of pool_pre_ping, whose ping has no deadline: on a server that stopped
    # answering (frozen, or a partition the kernel still acknowledges) it waited forever.
    event.listen(engine, "connect", _unpinged)
    event.listen(engine, "checkout", _ping_within(settings.database_timeout / 2))
    if settings.database_pgbouncer:
        event.listen(engine, "begin", _set_deadlines(deadlines))
    return engine


_UNPINGED = "unpinged"


def _unpinged(_dbapi_connection: Any, record: Any) -> None:
    record.info[_UNPINGED] = True


def _ping_within(deadline: float) -> Any:
    """A check of each pooled connection as it is taken, which gives up after ``deadline``
    seconds: the pool then replaces the connection, and a new one fails within
    TRACKER_DATABASE_TIMEOUT if the server is still not answering (a 503).

    A connection just opened is not pinged: connecting proved the server answers. This
    matters behind PgBouncer, where a ping waits for a free server connection like any
    query: under load it can outlast the deadline, and the pool, after a second failed
    ping on the replacement, would give up with an error that is not a database error
    (a 500). The replacement instead waits in PgBouncer's queue like any query."""

    def ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.info.pop(_UNPINGED, False):
            return
        pgconn = dbapi_connection.pgconn
        end = time.monotonic() + deadline
        try:
            pgconn.send_query(b"SELECT 1")
            while pgconn.flush():
                _wait_for(pgconn.socket, selectors.EVENT_WRITE, end)
            pgconn.consume_input()
            while pgconn.is_busy():
                _wait_for(pgconn.socket, selectors.EVENT_READ, end)
                pgconn.consume_input()
            answered = True
            while (result := pgconn.get_result()) is not None:
                answered = answered and result.status == psycopg.pq.ExecStatus.TUPLES_OK
        except (psycopg.Error, OSError) as exc:
            raise DisconnectionError(f"the ping failed: {exc.__class__.__name__}") from exc
        if not answered:
            raise DisconnectionError("the ping was refused")

    return ping


def _wait_for(fd: int, events: int, end: float) -> None:
    with selectors.DefaultSelector() as selector:
        selector.register(fd, events)
        if not selector.select(max(0.0, end - time.monotonic())):
            raise DisconnectionError("the database did not answer the ping in time")


def postgres_deadlines() -> dict[str, int]:
    """PostgreSQL's statement_timeout and lock_timeout, in milliseconds (0: none): a
    statement that runs, or waits for a lock, longer is cancelled (SQLSTATE 57014 or
    55P03), and the request answers a 503 that says which (app.http.problems)."""
    settings = get_settings()
    return {
        "statement_timeout": round(settings.statement_timeout * 1000),
        "lock_timeout": round(settings.lock_timeout * 1000),
    }


def _set_deadlines(deadlines: dict[str, int]) -> Any:
    # set_config(..., true) is SET LOCAL: it ends with the transaction, so it never
    # reaches the next client of PgBouncer's server connection.
    sql = "SELECT " + ", ".join(
        f"set_config('{name}', '{ms}', true)" for name, ms in deadlines.items()
    )

    def set_deadlines(connection: Connection) -> None:
        connection.exec_driver_sql(sql)

    return set_deadlines


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().effective_database_url)


@lru_cache
def get_replica() -> Replica | None:
    """The read replica, when TRACKER_DATABASE_REPLICA_URL names one."""
    settings = get_settings()
    if settings.database_replica_url is None:
        return None
    return Replica(
        make_engine(settings.database_replica_url),
        primary=get_engine(),
        max_lag_seconds=settings.replica_max_lag_seconds,
    )


@lru_cache
def _session_factory() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False, autoflush=False)


def new_session(*, writes: bool = False) -> Session:
    """A session on the primary; ``writes`` says it will write, so that on SQLite its
    transaction takes the write lock up front."""
    session = _session_factory()()
    if writes:
        session.connection(execution_options={"writes": True})
    return session


def _read_session(replica: Replica, client: str | None) -> Session:
    """A session on the replica when it may serve this client, otherwise on the primary."""
    if replica.serves(client):
        session = Session(
            bind=replica.engine, expire_on_commit=False, autoflush=False, info={"replica": True}
        )
        try:
            # Connect now: a replica that has gone away is found here, and the request
            # reads from the primary instead, rather than failing half-way.
            session.connection()
            return session
        except SQLAlchemyError:
            session.close()
            replica.failed()
    return new_session()


def reads_replica(session: Session) -> bool:
    return bool(session.info.get("replica"))


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: commit on success, roll back on any error.

    Reads (GET, HEAD) go to the read replica when one is configured and may serve the
    client (app.replica); everything else goes to the primary."""
    writes = request.method not in READ_METHODS
    replica = get_replica()
    client = client_key(request.headers.get("Authorization")) if replica else None
    if replica is not None and not writes:
        session = _read_session(replica, client)
    else:
        session = new_session(writes=writes)
    with session:
        try:
            yield session
            session.commit()
        except BaseException as exc:
            session.rollback()
            if replica is not None and reads_replica(session) and isinstance(exc, OperationalError):
                # Gone, or a query cancelled by replay: the next reads go to the primary.
                replica.failed()
            raise
        if replica is not None and writes and client is not None:
            _remember_write(session, replica, client)


def _remember_write(session: Session, replica: Replica, client: str) -> None:
    """Sends this client's next reads to the primary until the replica has this write."""
    try:
        replica.wrote(client, current_lsn(session.connection()))
    except SQLAlchemyError:
        # The write has committed; the client must hear so. Without its position the
        # client may, for as long as the replica lags, not see it at once.
        logger.warning("could not read the WAL position after a write")


# scope="function" makes the commit run after the endpoint and before the response is sent,
# so a client is never told a write succeeded that did not commit.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def transaction_chain(session: Session) -> list[SessionTransaction]:
    """The session's innermost transaction (its savepoint, if one is open) and each one
    around it: what a change made now is undone with if any of them rolls back."""
    chain = []
    transaction = session.get_nested_transaction() or session.get_transaction()
    while transaction is not None:
        chain.append(transaction)
        transaction = transaction.parent
    return chain


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # configparser treats "%" as interpolation; URL-encoded passwords contain it.
    database_url = url or get_settings().effective_database_url
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware, on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
