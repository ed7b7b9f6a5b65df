"""A real `crisis-tracker serve` in a subprocess, for tests that need processes, workers
and signals (concurrency, faults)."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 60.0


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    workers: int

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self) -> bool:
        """Every worker has started, and the database answers."""
        if self.log_text().count("Application startup complete") < self.workers:
            return False
        try:
            return (
                httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
                and httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200
            )
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """SIGKILL to the server process (with one worker, the one serving requests)."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM (uvicorn stops its workers), then SIGKILL to whatever is left of its
        process group (it runs in a session of its own)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_command() -> list[str]:
    installed = Path(sys.executable).with_name("crisis-tracker")
    if installed.exists():
        return [str(installed)]
    return [sys.executable, "-c", "from app.cli import main; main()"]


def _start_once(database_url: str, log: Path, workers: int, settings: dict[str, str]) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": database_url,
        # Many requests per token within a second: the rate limit is tested elsewhere.
        "TRACKER_RATE_LIMIT_PER_MINUTE": "0",
        "PYTHONUNBUFFERED": "1",
        **{f"TRACKER_{name.upper()}": value for name, value in settings.items()},
    }
    command = [*cli_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log, workers)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the server exited ({process.returncode}):\n{server.log_text()}"
                )
            if server.ready():
                return server
            time.sleep(0.2)
        raise RuntimeError(f"the server did not start in time:\n{server.log_text()}")
    except BaseException:
        server.stop()
        raise


def start_server(database_url: str, log: Path, *, workers: int = 1, **settings: str) -> Server:
    """Starts a server on a free port and waits until it is ready; settings are
    TRACKER_ variables by their lower-case names (``idempotency_lease_seconds="1"``)."""
    attempts = 3  # the free port may be taken between choosing and binding it
    for attempt in range(attempts):
        try:
            return _start_once(database_url, log, workers, settings)
        except RuntimeError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@contextlib.contextmanager
def running(database_url: str, log: Path, **kwargs: object) -> Iterator[Server]:
    server = start_server(database_url, log, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
