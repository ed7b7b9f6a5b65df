from alembic import context

# Every domain's models, so that autogenerate and `alembic check` see the whole schema.
from app.audit import models as _audit  # noqa: F401
from app.auth import models as _auth  # noqa: F401
from app.crises import models as _crises  # noqa: F401
from app.db import Base, get_settings, make_engine
from app.idempotency import models as _idempotency  # noqa: F401
from app.sitreps import models as _sitreps  # noqa: F401
from app.totals import models as _totals  # noqa: F401

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().effective_database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
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
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
