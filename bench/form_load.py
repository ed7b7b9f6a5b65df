"""How heavy the sitrep form is, and how long it takes to become usable, on a bad connection.

Starts `crisis-tracker serve` on the demo data (in a temporary SQLite database), then opens
/dashboard/sitrep in Debian's Chromium with a cold cache (a fresh browser context: no HTTP
cache, no service worker) under network emulation: 400 kbit/s down and up, 400 ms round
trip (CDP Network.emulateNetworkConditions). The field officer is signed in (the token is
in the tab's sessionStorage, as the sign-in page leaves it).

Measured, per run: bytes transferred (encodedDataLength, headers included) and requests
until the form is usable, and the time from navigation until it is: the form drawn with
its lists (body[data-loaded="true"]) and a country chosen with its admin areas loaded, so
that a line can be typed. Prints the median of --runs runs.

    .venv/bin/python bench/form_load.py [--runs 3] [--page /dashboard/sitrep]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
KBIT = 1000 / 8  # bytes per second in one kbit/s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def command() -> list[str]:
    installed = Path(sys.executable).with_name("crisis-tracker")
    return [str(installed)] if installed.exists() else [sys.executable, "-m", "app.cli"]


def serve(data: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    env = {**os.environ, "TRACKER_DATA_DIR": str(data), "TRACKER_LOG_LEVEL": "warning"}
    env.pop("TRACKER_DATABASE_URL", None)
    loaded = subprocess.run(
        [*command(), "demo"], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    )
    token = next(
        line.split()[1] for line in loaded.stdout.splitlines() if line.split()[:1] == ["demo-field"]
    )
    port = free_port()
    server = subprocess.Popen(
        [*command(), "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return server, f"http://127.0.0.1:{port}", token
        time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start")


def one_run(browser: Any, url: str, token: str, page_path: str) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.add_init_script(f"sessionStorage.setItem('crisis-tracker.token', {token!r});")
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 400,
            "downloadThroughput": 400 * KBIT,
            "uploadThroughput": 400 * KBIT,
        },
    )
    sizes: dict[str, float] = {}
    urls: dict[str, str] = {}
    cdp.on(
        "Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"])
    )
    cdp.on(
        "Network.loadingFinished",
        lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]),
    )
    started = time.perf_counter()
    page.goto(url + page_path, wait_until="commit")
    page.wait_for_selector('body[data-loaded="true"]', timeout=120_000)
    drawn = time.perf_counter() - started
    drawn_bytes = sum(sizes.values())
    drawn_requests = len(sizes)
    page.select_option("#country", "SDN")
    page.wait_for_selector("#admin1-options option", state="attached", timeout=120_000)
    usable = time.perf_counter() - started
    result = {
        "drawn_s": drawn,
        "drawn_kb": drawn_bytes / 1000,
        "drawn_requests": drawn_requests,
        "usable_s": usable,
        "usable_kb": sum(sizes.values()) / 1000,
        "usable_requests": len(sizes),
    }
    if os.environ.get("FORM_LOAD_VERBOSE"):
        for request_id, size in sizes.items():
            print(f"{size:8.0f} {urls.get(request_id, '?')}")
    context.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--page", default="/dashboard/sitrep")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as data:
        server, url, token = serve(Path(data))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
                )
                runs = [one_run(browser, url, token, args.page) for _ in range(args.runs)]
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    print(f"{args.page}, cold cache, 400 kbit/s down and up, 400 ms RTT; median of {args.runs}:")
    print(
        f"  form drawn with its lists: {median['drawn_s']:.1f} s, "
        f"{median['drawn_kb']:.0f} kB in {median['drawn_requests']:.0f} requests"
    )
    print(
        f"  usable (a country chosen, its admin areas loaded): {median['usable_s']:.1f} s, "
        f"{median['usable_kb']:.0f} kB in {median['usable_requests']:.0f} requests"
    )


if __name__ == "__main__":
    main()
