"""PostgreSQL servers and PgBouncer started by the tests themselves: a primary with a
streaming hot standby made by ``pg_basebackup -R`` (test_replicas.py), PgBouncer in
transaction pooling mode in front of a server (conftest, TRACKER_TEST_PGBOUNCER), and a
pg_auto_failover formation made by ``pg_autoctl`` (test_failover.py).

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
from typing import Any

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


# --- a pg_auto_failover formation: a monitor, a primary and a synchronous secondary -------

# The monitor's health checks, shortened so that a failover takes seconds, not the minute
# of the defaults (about 50 s here: 20 s before a node is unhealthy, 30 s of demote timeout).
# A production monitor keeps the defaults: they leave a primary that is only slow or cut off
# time to demote itself before another is promoted (README, "Running it in production").
TEST_MONITOR_SETTINGS = {
    "pgautofailover.health_check_period": "1000",
    "pgautofailover.health_check_timeout": "1000",
    "pgautofailover.health_check_max_retries": "1",
    "pgautofailover.health_check_retry_delay": "500",
    "pgautofailover.node_considered_unhealthy_timeout": "2000",
    "pgautofailover.primary_demote_timeout": "2000",
    "pgautofailover.startup_grace_period": "2000",
}


def _autoctl_pg_ctl() -> str:
    """pg_ctl of the PostgreSQL that has the pgautofailover extension, by its real path:
    pg_autoctl looks for the other programs (pg_controldata, ...) beside it."""
    for directory in PG_BIN_DIRS:
        if (directory.parent / "lib" / "pgautofailover.so").exists():
            return str(directory / "pg_ctl")
    return str(Path(pg_bin("pg_ctl") or "pg_ctl").resolve())


def missing_failover_programs() -> list[str]:
    missing = missing_postgres_programs()
    return missing if shutil.which("pg_autoctl") else [*missing, "pg_autoctl"]


@dataclass
class AutoctlNode:
    """One pg_autoctl service (the monitor, or a Postgres node and its keeper): the keeper
    starts, watches and restarts its own postmaster."""

    name: str
    data: Path
    port: int
    environment: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.name}.log"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def launch(self, *arguments: str) -> None:
        command = [
            "env",
            *(f"{k}={v}" for k, v in self.environment.items()),
            shutil.which("pg_autoctl") or "pg_autoctl",
            *arguments,
        ]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                _as_server_user(command),
                stdout=out,
                stderr=subprocess.STDOUT,
                # Its own process group: the keeper, its postmaster and every backend,
                # killed at once by kill().
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def run(self) -> None:
        """Starts the node again from its data directory (it rejoins the formation)."""
        self.launch("run", "--pgdata", str(self.data))

    def kill(self) -> None:
        """The loss of the node's server: SIGKILL to its keeper, its postmaster and every
        backend at once. (A SIGKILL of the postmaster alone is repaired by the keeper, which
        starts it again within a second, without any failover.)"""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, 9)
            self.process.wait(timeout=30)
            self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None
        # A postmaster left behind by a keeper that did not stop it.
        with contextlib.suppress(RuntimeError):
            _run([pg_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-m", "immediate", "stop"])

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def multi_host_url(
    hosts: list[str], database: str, target_session_attrs: str = "read-write"
) -> str:
    """A SQLAlchemy URL naming several servers (``host:port``), as the README writes it."""
    named = "&".join(f"host={host}" for host in hosts)
    return (
        f"postgresql+psycopg://{SERVER_USER}@/{database}?{named}"
        f"&target_session_attrs={target_session_attrs}"
    )


@dataclass
class Formation:
    """A pg_auto_failover formation of the tests' own: a monitor and two nodes, with
    synchronous replication between them, on free local ports."""

    monitor: AutoctlNode
    nodes: tuple[AutoctlNode, AutoctlNode]
    database: str

    def url(self, database: str | None = None) -> str:
        """The service's URL: both nodes, the primary found by target_session_attrs."""
        return multi_host_url([n.host for n in self.nodes], database or self.database)

    def replica_url(self, database: str | None = None) -> str:
        """The URL for reads: the secondary, or the primary while there is none."""
        hosts = [n.host for n in self.nodes]
        return multi_host_url(hosts, database or self.database, "prefer-standby")

    def node(self, name: str) -> AutoctlNode:
        return next(node for node in self.nodes if node.name == name)

    def states(self) -> dict[str, tuple[str, str]]:
        """Each node's reported and assigned state, as the monitor has them."""
        with _connect(self.monitor.port, "pg_auto_failover") as connection:
            rows = connection.execute(
                "SELECT nodename, reportedstate::text, goalstate::text FROM pgautofailover.node"
            ).fetchall()
        return {name: (reported, goal) for name, reported, goal in rows}

    def state_of(self, name: str) -> str | None:
        """A node's reported state; None while the monitor does not answer or know it."""
        try:
            return self.states().get(name, (None, None))[0]
        except Exception:  # the monitor restarting
            return None

    def settled(self) -> str | None:
        """The primary's name, once one node is primary and the other its synchronous
        secondary, each in the state assigned to it."""
        try:
            states = self.states()
        except Exception:  # the monitor restarting
            return None
        if sorted(reported for reported, _ in states.values()) != ["primary", "secondary"]:
            return None
        if any(reported != goal for reported, goal in states.values()):
            return None
        return next(name for name, (reported, _) in states.items() if reported == "primary")

    def wait_settled(self, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while (primary := self.settled()) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the formation did not settle: {self.report()}")
            time.sleep(0.2)
        return primary

    def report(self) -> str:
        try:
            states = str(self.states())
        except Exception as exc:
            states = f"(the monitor did not answer: {exc})"
        logs = "\n".join(f"--- {node.name}\n{node.tail()}" for node in (self.monitor, *self.nodes))
        return f"{states}\n{logs}"


def _connect(port: int, dbname: str) -> Any:
    import psycopg

    return psycopg.connect(
        host="127.0.0.1",
        port=port,
        user=SERVER_USER,
        dbname=dbname,
        connect_timeout=2,
        autocommit=True,
    )


def _checkpoint(node: AutoctlNode) -> None:
    import psycopg

    with contextlib.suppress(psycopg.Error), _connect(node.port, "postgres") as connection:
        connection.execute("CHECKPOINT")


@contextlib.contextmanager
def failover_formation(database: str = "tracker") -> Iterator[Formation]:
    """A monitor and two nodes made by ``pg_autoctl create`` (the commands of the README's
    production section), the first node primary; stopped and deleted afterwards."""
    import psycopg

    root = server_tmpdir("crisis-tracker-failover-")
    pg_ctl = _autoctl_pg_ctl()
    environment = {
        "PATH": f"{Path(pg_ctl).parent}:/usr/bin:/bin",
        # pg_autoctl keeps its configuration and state under these: inside the test's folder.
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_DATA_HOME": str(root / "share"),
        "XDG_RUNTIME_DIR": str(root / "run"),
        "HOME": str(root),
    }
    monitor = AutoctlNode("monitor", root / "monitor", free_port(), environment)
    nodes = (
        AutoctlNode("node_a", root / "node_a", free_port(), environment),
        AutoctlNode("node_b", root / "node_b", free_port(), environment),
    )
    formation = Formation(monitor, nodes, database)
    try:
        common = ["--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl", "--pgctl", pg_ctl]
        monitor.launch(
            "create",
            "monitor",
            "--pgdata",
            str(monitor.data),
            "--pgport",
            str(monitor.port),
            *common,
            "--run",
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with _connect(monitor.port, "pg_auto_failover") as connection:
                    for name, value in TEST_MONITOR_SETTINGS.items():
                        connection.execute(f"ALTER SYSTEM SET {name} = '{value}'")
                    connection.execute("SELECT pg_reload_conf()")
                break
            except psycopg.Error:
                if time.monotonic() > deadline or not monitor.alive():
                    raise RuntimeError(f"the monitor did not start:\n{monitor.tail()}") from None
                time.sleep(0.2)
        monitor_uri = (
            f"postgres://autoctl_node@127.0.0.1:{monitor.port}/pg_auto_failover?sslmode=disable"
        )
        for node in nodes:
            node.launch(
                "create",
                "postgres",
                "--pgdata",
                str(node.data),
                "--pgport",
                str(node.port),
                "--listen",
                "127.0.0.1",
                "--name",
                node.name,
                "--dbname",
                database,
                "--monitor",
                monitor_uri,
                *common,
                "--run",
            )
            if node is nodes[0]:
                deadline = time.monotonic() + 90
                while formation.state_of(node.name) != "single":
                    if time.monotonic() > deadline or not node.alive():
                        raise RuntimeError(f"the first node did not start: {formation.report()}")
                    time.sleep(0.2)
        # The secondary is made by pg_basebackup, which waits for a checkpoint of the
        # primary: ask for it now rather than after checkpoint_timeout.
        deadline = time.monotonic() + 120
        while formation.settled() is None:
            if time.monotonic() > deadline or not all(node.alive() for node in nodes):
                raise RuntimeError(f"the formation did not settle: {formation.report()}")
            _checkpoint(nodes[0])
            time.sleep(0.5)
        yield formation
    finally:
        for node in (*nodes, monitor):
            node.stop()
        shutil.rmtree(root, ignore_errors=True)
