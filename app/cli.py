"""The ``crisis-tracker`` command."""

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from alembic import command
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app import backup as backups
from app import demo as demo_data
from app import schema
from app.auth import service as auth
from app.auth.models import Role
from app.config import get_settings
from app.db import alembic_config, get_engine, new_session, sqlite_file
from app.errors import AppError, validation_failed
from app.imports import console as import_console
from app.imports import service as imports
from app.imports.schemas import Combine, Figures, ImportOptions, Mode
from app.imports.sheets import Upload
from app.needs import service as needs
from app.needs.schemas import NeedsOptions

app = typer.Typer(help="crisis-tracker: IOM crisis-response reporting.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Users and their API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
needs_app = typer.Typer(
    help="People in need, from Humanitarian Needs Overviews.", no_args_is_help=True
)
app.add_typer(needs_app, name="needs")

# A database not migrated, or settings that cannot work: the command cannot run as things
# are, whatever its input; 2, as a usage error is.
EXIT_CANNOT_RUN = 2


@app.callback()
def _every_command() -> None:
    try:
        settings = get_settings()
    except PydanticValidationError as error:
        # A setting that cannot work: said in one line each, not as a traceback.
        for problem in error.errors():
            message = problem["msg"].removeprefix("Value error, ")
            if problem["loc"]:  # a setting of its own; otherwise the message names them
                name = "TRACKER_" + "_".join(map(str, problem["loc"])).upper()
                message = f"{name}: {message}"
            typer.secho(f"configuration error: {message}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN) from None
    if settings.data_dir_is_local:
        typer.echo(
            f"note: using the database in {settings.data_dir} (found in the working "
            "directory); set TRACKER_DATA_DIR to use another",
            err=True,
        )


def _database() -> str:
    """The database in use, as a command names it (never with its password)."""
    return make_url(get_settings().effective_database_url).render_as_string(hide_password=True)


def _fail(message: str, code: int) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=code)


def _require_migrated(*, answering: bool = True) -> None:
    """Exit 2, saying so in one line, when the database lacks this release's migrations;
    and, with ``answering``, exit 1 when it does not answer."""
    engine = get_engine()
    try:
        schema.check(engine)
    except schema.MigrationsPending as pending:
        if schema.missing_file(engine):
            raise _fail(
                f"there is no database at {engine.url.database}: run `crisis-tracker db "
                "upgrade` to make it, or set TRACKER_DATA_DIR or TRACKER_DATABASE_URL to "
                "use another",
                EXIT_CANNOT_RUN,
            ) from None
        raise _fail(f"{pending.detail.rstrip('.')} ({_database()})", EXIT_CANNOT_RUN) from None
    except SQLAlchemyError as exc:
        if answering:
            raise _fail(
                f"the database {_database()} does not answer ({exc.__class__.__name__})", 1
            ) from None


@contextmanager
def _unit_of_work() -> Iterator[Session]:
    """A session committed when the command succeeds; an AppError becomes a message on
    standard error and exit code 1, with nothing written. A database without this
    release's migrations is exit code 2, before anything is read."""
    _require_migrated()
    with new_session(writes=True) as session:
        try:
            yield session
            session.commit()
        except AppError as error:
            session.rollback()
            exit_ = _fail(error.detail, 1)
            problems = error.extensions.get("errors", [])
            # One problem is the detail itself; several are listed under it.
            for problem in problems if len(problems) > 1 else []:
                typer.secho(f"  {'.'.join(map(str, problem['loc']))}: {problem['msg']}", err=True)
            raise exit_ from error


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply the database migrations (the only way the schema is made)."""
    command.upgrade(alembic_config(), revision)
    typer.echo(f"database {_database()} upgraded to {revision}")


def _sqlite_database(action: str) -> Path:
    path = sqlite_file(get_settings().effective_database_url)
    if path is None:
        raise _fail(
            f"`db {action}` is for the embedded SQLite database; {_database()} is backed up "
            'with PostgreSQL\'s tools (README, "Running it in production")',
            2,
        )
    return path


@db_app.command("backup")
def db_backup(
    file: Annotated[Path, typer.Argument(help="The backup file to write (must not exist).")],
) -> None:
    """Copy the SQLite database to FILE, safely while the service writes."""
    try:
        made = backups.backup(_sqlite_database("backup"), file, schema.shipped_migrations())
    except backups.BackupError as error:
        raise _fail(str(error), 1) from None
    typer.echo(
        f"backed up {_database()} to {made.path}: {made.sitreps} sitrep(s), schema "
        f"revision {made.revision}, {made.bytes:,} bytes"
    )


@db_app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(help="A file written by `db backup`.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Replace the database without asking.")
    ] = False,
) -> None:
    """Replace the SQLite database with the backup FILE (stop the service first)."""
    database = _sqlite_database("restore")
    if not yes and not typer.confirm(f"Replace everything in {database} with {file}?", err=True):
        raise _fail("nothing was restored", 1)
    try:
        found = backups.restore(file, database, schema.shipped_migrations())
    except backups.BackupError as error:
        raise _fail(str(error), 1) from None
    typer.echo(
        f"restored {file} into {_database()}: {found.sitreps} sitrep(s), schema revision "
        f"{found.revision}"
    )
    if found.revision not in schema.shipped_migrations().get_heads():
        typer.echo("the backup is of an earlier release: run `crisis-tracker db upgrade`")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Run the HTTP API.

    Logs go to standard output, one JSON object per line (TRACKER_LOG_FORMAT=text for a
    terminal), with one access line per request. Metrics are at /metrics, added up over the
    workers. On SIGTERM the server stops accepting connections and lets the requests in
    flight finish, for up to TRACKER_SHUTDOWN_TIMEOUT seconds."""
    import uvicorn

    from app.http import logs, metrics

    settings = get_settings()
    # A database that does not answer yet may come up later (/readyz says when); one that
    # answers without the migrations will not fix itself.
    _require_migrated(answering=False)
    made = metrics.prepare_multiprocess(workers)
    try:
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=True,
            log_config=logs.logging_config(settings.log_format, settings.log_level),
            # metrics.RequestsMiddleware writes the access lines, with the request id.
            access_log=False,
            timeout_graceful_shutdown=settings.shutdown_timeout,
        )
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="A unique user name.")],
    role: Annotated[Role, typer.Option(help="What the user may do.")],
    country: Annotated[
        list[str] | None, typer.Option(help="ISO3 country the user works in (repeatable).")
    ] = None,
    cluster: Annotated[
        list[str] | None, typer.Option(help="Cluster a coordinator pulls (repeatable).")
    ] = None,
) -> None:
    """Create a user and print its API token, once, as the last line."""
    with _unit_of_work() as session:
        user = auth.create_user(
            session, name=name, role=role, countries=country or [], clusters_=cluster or []
        )
        token = auth.issue_token(session, user=user)
    typer.echo(f"created {role.value} user {name!r}; its API token (shown only now):", err=True)
    typer.echo(token)


@users_app.command("token")
def users_token(name: Annotated[str, typer.Argument(help="The user's name.")]) -> None:
    """Issue an additional API token for a user and print it as the last line."""
    with _unit_of_work() as session:
        token = auth.issue_token(session, user=auth.get_user_by_name(session, name=name))
    typer.echo(token)


@users_app.command("revoke")
def users_revoke(name: Annotated[str, typer.Argument(help="The user's name.")]) -> None:
    """Revoke every API token of a user."""
    with _unit_of_work() as session:
        count = auth.revoke_tokens(session, user=auth.get_user_by_name(session, name=name))
    typer.echo(f"revoked {count} token(s) of {name!r}")


@app.command()
def demo() -> None:
    """Apply the migrations and load a demonstration data set (or, when it is already
    loaded, issue fresh tokens for its users). Prints a token for one user of each role."""
    command.upgrade(alembic_config(), "head")
    with _unit_of_work() as session:
        summary = demo_data.load(session)
    typer.echo(summary.describe())


@app.command("import")
def import_sheet(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="A 5W sheet: CSV, XLSX or HXL CSV."
        ),
    ],
    user: Annotated[str, typer.Option(help="Import as this user; their permissions apply.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check everything and report; write nothing.")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Write nothing at all if anything is refused.")
    ] = False,
    division: Annotated[
        str | None, typer.Option(help="Default DHRR division: pcca, prd or hod.")
    ] = None,
    phase: Annotated[
        str | None, typer.Option(help="Default MCOF phase: preparedness, response, recovery.")
    ] = None,
    year: Annotated[
        int | None, typer.Option(help="Year of month cells without one ('June').")
    ] = None,
    crisis_id: Annotated[int | None, typer.Option(help="Default crisis id.")] = None,
    column: Annotated[
        list[str] | None,
        typer.Option(help="FIELD=COLUMN: read a field from another column (repeatable)."),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(help="COLUMN~TEXT or COLUMN=TEXT: import only matching rows (repeatable)."),
    ] = None,
    combine: Annotated[
        Combine, typer.Option(help="Rows for one slot of a sitrep: refuse, max or sum.")
    ] = Combine.refuse,
    mode: Annotated[
        Mode,
        typer.Option(
            help="create: refuse sitreps already reported; update: amend them (refuse the "
            "rest); upsert: amend them and create the rest."
        ),
    ] = Mode.create,
    figures: Annotated[
        Figures | None,
        typer.Option(
            help="What the people column counts: new (first reached this year), period "
            "(everyone reached in the period) or cumulative (since 1 January)."
        ),
    ] = None,
) -> None:
    """Import a 5W sheet, one row per sitrep line, grouped into sitreps by country, crisis
    and period; with --mode update or upsert, again and again as the sheet changes. Prints
    a report; exit code 1 when any row or sitrep was refused."""
    with import_console.ProgressBar() as progress, _unit_of_work() as session:
        try:
            options = ImportOptions.model_validate(
                {
                    "dry_run": dry_run,
                    "strict": strict,
                    "division": division,
                    "phase": phase,
                    "year": year,
                    "crisis_id": crisis_id,
                    "column": column or [],
                    "only": only or [],
                    "combine": combine,
                    "mode": mode,
                    "figures": figures,
                }
            )
        except PydanticValidationError as exc:
            raise validation_failed([dict(error) for error in exc.errors()]) from None
        report = imports.run(
            session,
            upload=Upload(data=file.read_bytes(), name=file.name),
            options=options,
            user=auth.get_user_by_name(session, name=user),
            progress=progress,
        )
    import_console.render(report)
    if report.problems or report.refused:
        raise typer.Exit(code=1)


@needs_app.command("import")
def needs_import(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="HDX HAPI needs CSV or HNO HXL sheet."
        ),
    ],
    user: Annotated[str, typer.Option(help="Load as this user (headquarters or admin).")],
    country: Annotated[
        str | None, typer.Option(help="ISO3 country of an HNO sheet that names none.")
    ] = None,
    year: Annotated[int | None, typer.Option(help="Year of an HNO sheet that names none.")] = None,
) -> None:
    """Load people in need; the figures of each country and year of the file replace those
    loaded before. Prints what was loaded; exit code 1, with nothing written, for a bad
    file."""
    with _unit_of_work() as session:
        try:
            options = NeedsOptions(country=country, year=year)
        except PydanticValidationError as exc:
            raise validation_failed([dict(error) for error in exc.errors()]) from None
        report = needs.load(
            session,
            upload=Upload(data=file.read_bytes(), name=file.name),
            options=options,
            user=auth.get_user_by_name(session, name=user),
        )
    for loaded in report.loaded:
        typer.echo(
            f"{loaded.country} {loaded.year}: {loaded.rows} rows loaded, {loaded.replaced} replaced"
        )
    typer.echo(
        f"{report.rows_loaded} rows loaded ({report.format}), {report.replaced} replaced, "
        f"{report.rows_skipped} skipped"
    )


def main() -> None:
    app()
