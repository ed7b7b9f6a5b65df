"""PostgreSQL servers and PgBouncer started by the tests themselves: a primary with a
streaming hot standby made by ``pg_basebackup -R`` (test_replicas.py), and PgBouncer in
transaction pooling mode in front of a server (conftest, TRACKER_TEST_PGBOUNCER).

PostgreSQL and PgBouncer refuse to run as root, so when the tests run as root the servers
run as the ``postgres`` OS user, in directories it owns."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port

PG_BIN_DIRS = [Path(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]
SERVER_USER = "postgres"


def pg_bin(name: str) -> str | None:
    """A PostgreSQL program, from PATH or Debian's versioned directories."""
    found = shutil.which(name)
    if found:
        return found
    for directory in PG_BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    return None


def missing_postgres_programs() -> list[str]:
    return [p for p in ("initdb", "pg_ctl", "pg_basebackup", "postgres") if pg_bin(p) is None]


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", SERVER_USER, "--", *command]


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam(SERVER_USER)
        os.chown(path, user.pw_uid, user.pw_gid)


def _run(command: list[str]) -> None:
    result = subprocess.run(
        _as_server_user(command), capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")


def server_tmpdir(prefix: str) -> Path:
    """A directory the server user can write to."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o700)
    _own(path)
    return path


@dataclass
class PgServer:
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.data.name}.log"

    def start(self) -> None:
        _run(
            [
                pg_bin("pg_ctl") or "pg_ctl",
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}",
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            _run([pg_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-m", "immediate", "stop"])

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


PRIMARY_SETTINGS = """
listen_addresses = '127.0.0.1'
wal_level = replica
max_wal_senders = 4
max_replication_slots = 4
hot_standby = on
fsync = off
full_page_writes = off
synchronous_commit = on
shared_buffers = 16MB
max_connections = 60
"""


@contextlib.contextmanager
def primary_and_standby() -> Iterator[tuple[PgServer, PgServer]]:
    """A primary on a free port and a hot standby streaming from it through a replication
    slot; both stopped and deleted afterwards, whatever happens."""
    root = server_tmpdir("crisis-tracker-replication-")
    primary = PgServer(root / "primary", free_port())
    standby = PgServer(root / "standby", free_port())
    try:
        _run(
            [
                pg_bin("initdb") or "initdb",
                "-D",
                str(primary.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--encoding=UTF8",
                "--locale=C",
            ]
        )
        with (primary.data / "postgresql.conf").open("a") as conf:
            conf.write(PRIMARY_SETTINGS)
        with (primary.data / "pg_hba.conf").open("a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        primary.start()
        _run(
            [
                pg_bin("pg_basebackup") or "pg_basebackup",
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                "postgres",
                "-D",
                str(standby.data),
                "-R",
                "-X",
                "stream",
                "-C",
                "-S",
                "standby",
                "--no-sync",
            ]
        )
        standby.start()
        yield primary, standby
    finally:
        standby.stop()
        primary.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class PgBouncer:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"


@contextlib.contextmanager
def pgbouncer(server_host: str, server_port: int) -> Iterator[PgBouncer]:
    """PgBouncer in transaction pooling mode on a free port, in front of every database of
    the server; stopped and deleted afterwards."""
    program = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    root = server_tmpdir("crisis-tracker-pgbouncer-")
    port = free_port()
    (root / "users.txt").write_text('"postgres" ""\n')
    (root / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={server_host} port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {root / "users.txt"}
pool_mode = transaction
default_pool_size = 4
max_client_conn = 500
ignore_startup_parameters = extra_float_digits,options
logfile = {root / "pgbouncer.log"}
pidfile = {root / "pgbouncer.pid"}
"""
        + (f"user = {SERVER_USER}\n" if os.geteuid() == 0 else "")
    )
    for name in ("users.txt", "pgbouncer.ini"):
        _own(root / name)
    process = subprocess.Popen(
        [program, str(root / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    bouncer = PgBouncer(port, process, root / "pgbouncer.log")
    try:
        deadline = time.monotonic() + 30
        while not _accepts(port):
            if process.poll() is not None or time.monotonic() > deadline:
                log = bouncer.log.read_text() if bouncer.log.exists() else ""
                raise RuntimeError(f"pgbouncer did not start ({process.poll()}):\n{log}")
            time.sleep(0.1)
        yield bouncer
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def _accepts(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
