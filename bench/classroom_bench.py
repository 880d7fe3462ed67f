"""`make bench-classroom`: the classroom page in a real browser, measured (nothing asserted).

Prints: how long the page takes to load; how many simulated days per second Play shows in
the browser (one day per frame, the classroom preset); and N sessions at once on loopback
(default 20): whether all load, whether each steps, how long a Step takes for the last one
and for a plain request while they are open, and the server's memory per session.

    python bench/classroom_bench.py [--sessions 20] [--play-seconds 10]

Needs /usr/bin/chromium and Solara's browser files (`make browser`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from classroom import server
from classroom.assets import cache_dir, missing

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WAIT_MS = 120_000


def open_page(browser, url: str):
    """A new browser session on the page; seconds until the day counter and the map show."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    page = context.new_page()
    start = time.perf_counter()
    page.goto(url)
    page.locator(".day-counter").wait_for(timeout=WAIT_MS)
    page.locator(".corridor-map svg text").first.wait_for(timeout=WAIT_MS)
    return page, time.perf_counter() - start


def day_shown(page) -> int:
    return int(page.locator(".day-counter").inner_text().split()[-1])


def bench_page_load(browser, url: str, loads: int = 3) -> None:
    seconds = []
    for _ in range(loads):
        page, took = open_page(browser, url)
        seconds.append(took)
        page.context.close()
    print(f"page load (day counter and corridor map drawn): median {statistics.median(seconds):.2f} s"
          f" over {loads} loads ({', '.join(f'{s:.2f}' for s in seconds)})")


def bench_play(browser, url: str, seconds: float) -> None:
    """Days per second shown in the browser while playing, one day per frame."""
    page, _ = open_page(browser, url)
    page.get_by_role("button", name="Play", exact=True).click()
    page.wait_for_timeout(2000)  # past the first frames
    day_before, start = day_shown(page), time.perf_counter()
    page.wait_for_timeout(seconds * 1000)
    day_after, elapsed = day_shown(page), time.perf_counter() - start
    page.get_by_role("button", name="Pause", exact=True).click()
    rate = (day_after - day_before) / elapsed
    print(f"play (classroom preset, 1 day per frame): {rate:.1f} days/s shown in the browser "
          f"(day {day_before} to {day_after} in {elapsed:.1f} s; goal at least 5)")
    page.context.close()


def server_memory_mib(pid: int) -> float:
    """Resident memory of the server and its children (Linux /proc)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pid:  # in the server's process group (its pid)
                total += int((proc / "statm").read_text().split()[1]) * 4096
        except (OSError, IndexError, ValueError):
            continue
    return total / 2**20


def bench_sessions(browser, url: str, count: int, server_pid: int, days: int = 30) -> None:
    """Many sessions at once: do all load, does each step, does the server keep up."""
    memory_before = server_memory_mib(server_pid)
    start = time.perf_counter()
    pages = []
    for _ in range(count):  # open all the tabs first, as a class does, then wait for them
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
        page = context.new_page()
        page.goto(url, wait_until="commit")
        pages.append(page)
    loaded = [page for page in pages if shows(page.locator(".corridor-map svg text").first)]
    all_loaded = time.perf_counter() - start
    for page in loaded:
        page.locator(".days-per-step").click()
        page.get_by_role("option", name=str(days), exact=True).click()
    for page in loaded[1:]:  # everyone else steps a month while the first one does too
        page.get_by_role("button", name="Step", exact=True).click()
    request_start = time.perf_counter()  # a new visitor's request meanwhile
    with urllib.request.urlopen(url, timeout=120) as response:
        response.read()
    request_latency = time.perf_counter() - request_start
    step_start = time.perf_counter()
    loaded[0].get_by_role("button", name="Step", exact=True).click()
    shows(loaded[0].get_by_text(f"Day {days}", exact=True))
    step_latency = time.perf_counter() - step_start
    stepped = sum(shows(page.get_by_text(f"Day {days}", exact=True)) for page in loaded)
    memory_after = server_memory_mib(server_pid)
    print(f"{count} sessions: {len(loaded)} loaded (all within {all_loaded:.1f} s), {stepped} "
          f"stepped {days} days; while all stepped, a page request took "
          f"{request_latency:.2f} s and one more Step of {days} days {step_latency:.1f} s; "
          f"server memory "
          f"{memory_before:.0f} -> {memory_after:.0f} MiB, "
          f"{(memory_after - memory_before) / count:.1f} MiB per session at day {days}")
    for page in pages:
        page.context.close()


def shows(locator) -> bool:
    """Whether the element appears (within the bench's patience)."""
    try:
        locator.wait_for(timeout=WAIT_MS)
    except Exception:  # noqa: BLE001 - a page that never shows it is what we count
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--play-seconds", type=float, default=10.0)
    args = parser.parse_args()
    if not Path(CHROMIUM).exists() or missing(cache_dir()):
        print(f"needs {CHROMIUM} and Solara's browser files: run make browser", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        port = server.free_port()
        url = f"http://127.0.0.1:{port}/"
        process = server.start_in_background(port, Path(tmp) / "server.log")
        try:
            started = server.wait_until_serving(url, process, timeout=180)
            print(f"server answering after {started:.1f} s "
                  f"(memory {server_memory_mib(process.pid):.0f} MiB)")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                     args=CHROMIUM_ARGS)
                bench_page_load(browser, url)
                bench_play(browser, url, args.play_seconds)
                bench_sessions(browser, url, args.sessions, process.pid)
                browser.close()
        finally:
            server.stop(process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
