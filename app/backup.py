"""Backups of the embedded SQLite database: ``crisis-tracker db backup`` and ``db restore``.

Both go through SQLite's online backup API (``sqlite3.Connection.backup``), page by page
under SQLite's own locks, so a backup taken while the service writes is a consistent copy
of one moment: a write committed before the copy started is in it, one committed after is
not, and none is half in it. A copy is checked (``PRAGMA integrity_check``, the schema's
revision) before it is reported as made, and a file is checked the same way before it is
restored, so a restore never replaces a database with something that cannot serve.

PostgreSQL is backed up with PostgreSQL's own tools (README, "Running it in production").
"""

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory

# Pages copied per step: between steps other connections may write (the copy then restarts
# from the changed pages, as the backup API does by itself), so a busy service still goes on.
PAGES_PER_STEP = 1024


class BackupError(Exception):
    """A backup or restore that cannot be done, and why; nothing was changed."""


@dataclass(frozen=True, slots=True)
class Copy:
    path: Path
    revision: str
    sitreps: int
    bytes: int


def _check(path: Path, script: ScriptDirectory) -> Copy:
    """What a database file holds, when it is a whole database of this tracker that this
    release can serve (or upgrade); BackupError otherwise."""
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path} cannot be opened as an SQLite database ({exc}).") from None
    try:
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            raise BackupError(f"{path} is damaged: {integrity}.")
        revisions = [
            row[0] for row in connection.execute("SELECT version_num FROM alembic_version")
        ]
        sitreps = connection.execute("SELECT count(*) FROM sitreps").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(
            f"{path} is not a crisis-tracker database ({exc}): nothing was changed."
        ) from None
    finally:
        connection.close()
    if len(revisions) != 1:
        raise BackupError(f"{path} has no schema revision: it is not a crisis-tracker database.")
    (revision,) = revisions
    try:
        known = script.get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for an unknown id
        known = False
    if not known:
        raise BackupError(
            f"{path} was made by a newer release (schema revision {revision}): restore it "
            "with that release."
        )
    return Copy(path=path, revision=revision, sitreps=sitreps, bytes=path.stat().st_size)


def _copy(source: Path, target: Path, *, source_mode: str) -> None:
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode={source_mode}", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=PAGES_PER_STEP)
        finally:
            dst.close()
    finally:
        src.close()


def backup(database: Path, target: Path, script: ScriptDirectory) -> Copy:
    """Copies the live ``database`` to ``target`` (which must not exist), safely while the
    service writes, and checks the copy."""
    if not database.exists():
        raise BackupError(f"There is no database at {database} to back up.")
    if target.exists():
        raise BackupError(f"{target} exists: name a new file (a backup never overwrites).")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a folder.")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        _copy(database, partial, source_mode="rw")
        # The copy is in rollback-journal mode: one self-contained file.
        with sqlite3.connect(partial) as connection:
            connection.execute("PRAGMA journal_mode=DELETE")
        connection.close()
        _check(partial, script)
        partial.rename(target)
    finally:
        partial.unlink(missing_ok=True)
    return _check(target, script)


def restore(source: Path, database: Path, script: ScriptDirectory) -> Copy:
    """Replaces the content of ``database`` with the backup ``source``, once ``source`` is
    found whole and of a schema this release knows. The replacement is one write
    transaction of the backup API: a server reading the database meanwhile sees the old
    content or the new, never a mix."""
    if not source.exists():
        raise BackupError(f"There is no backup at {source}.")
    found = _check(source, script)
    if database.exists() and database.resolve() == source.resolve():
        raise BackupError(f"{source} is the database itself.")
    database.parent.mkdir(parents=True, exist_ok=True)
    _copy(source, database, source_mode="ro")
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
    connection.close()
    return found
