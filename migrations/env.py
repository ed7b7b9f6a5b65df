from alembic import context

# Every domain's models, so that autogenerate and `alembic check` see the whole schema.
from app.audit import models as _audit  # noqa: F401
from app.auth import models as _auth  # noqa: F401
from app.crises import models as _crises  # noqa: F401
from app.db import Base, get_settings, make_engine
from app.idempotency import models as _idempotency  # noqa: F401
from app.needs import models as _needs  # noqa: F401
from app.sitreps import models as _sitreps  # noqa: F401
from app.totals import models as _totals  # noqa: F401
from app.totals import summaries

config = context.config
target_metadata = Base.metadata
# Set by a migration that changes a totals summary: the summaries are then recomputed from
# the live lines by their own definition (app.totals.summaries), in the same transaction,
# when the run ends at head. The definition is the head's, so an upgrade that stops short of
# head skips it (the tables may lack the head's columns): the new figures then stay 0 for the
# lines already there, until an upgrade through a migration that asks again.
REBUILD_SUMMARIES = "rebuild_summaries"


def _run() -> None:
    context.run_migrations()
    if not config.attributes.pop(REBUILD_SUMMARIES, False):
        return
    at_head = context.is_offline_mode() or set(context.get_context().get_current_heads()) == set(
        context.script.get_heads()
    )
    if not at_head:
        return
    if context.is_offline_mode():
        for statement in summaries.rebuild_statements():
            context.execute(statement)
        return
    connection = context.get_bind()
    for statement in summaries.rebuild_statements():
        connection.execute(statement)
    if not context.get_context().impl.transactional_ddl:
        # On SQLite each migration committed on its own: the rebuild is a transaction of its
        # own too (on PostgreSQL it commits with the migrations).
        connection.commit()


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().effective_database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        _run()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=target_metadata)
        with context.begin_transaction():
            _run()
        return
    engine = make_engine(_url(), create=True)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite cannot ALTER most things in place; batch mode rebuilds the table.
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            _run()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
