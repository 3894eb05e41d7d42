"""Load: N sessions on the Costs page at once, each changing the volume a few times with
a user's think time between changes. The server logs its own time per rerun
(ADAPT_TIMING_LOG, written by streamlit_app.py); errors are exception boxes on a page.

Two drivers: "protocol" speaks Streamlit's websocket protocol from this process (cheap,
so the server has the machine as it would with remote users); "browser" runs a headless
Chromium page per session (real rendering, but on a 2-core machine the renderers take
most of the CPU from the server)."""

from __future__ import annotations

import asyncio
import random
import statistics
from pathlib import Path

from tests.e2e.serve import CHROMIUM, CHROMIUM_ARGS


async def _session(browser, url: str, changes: int, think_s: float, seed: int) -> int:
    rng = random.Random(seed)
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)
    await page.goto(f"{url}/costs")
    await page.get_by_text("Break-even month").first.wait_for()
    volume = page.get_by_label("Requests per month", exact=True)
    for _ in range(changes):
        await asyncio.sleep(think_s * rng.uniform(0.5, 1.5))
        await volume.fill(str(rng.randrange(1_000, 5_000_000)))
        await volume.press("Enter")
    await asyncio.sleep(3)  # let the last rerun finish
    errors = await page.locator('[data-testid="stException"]').count()
    await page.close()
    return errors


async def _protocol_session(url: str, changes: int, think_s: float, seed: int) -> int:
    from tests.e2e.wsclient import Session

    rng = random.Random(seed)
    session = await Session.connect(url, "costs")
    for _ in range(changes):
        await asyncio.sleep(think_s * rng.uniform(0.5, 1.5))
        await session.set_number("Requests per month", rng.randrange(1_000, 5_000_000))
    await session.close()
    return len(session.exceptions)


async def _protocol_load(url: str, sessions: int, changes: int, think_s: float) -> int:
    errors = await asyncio.gather(
        *(_protocol_session(url, changes, think_s, seed) for seed in range(sessions))
    )
    return sum(errors)


async def _browser_load(url: str, sessions: int, changes: int, think_s: float) -> int:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        errors = await asyncio.gather(
            *(_session(browser, url, changes, think_s, seed) for seed in range(sessions))
        )
        await browser.close()
    return sum(errors)


def costs_rerun_ms(log: Path) -> tuple[list[float], list[float]]:
    """(wall ms, CPU ms of the session's own thread) of every Costs-page rerun."""
    rows = [line.split("\t") for line in log.read_text().splitlines() if line.strip()]
    costs = [r for r in rows if r[0] == "costs"]
    return [float(r[1]) for r in costs], [float(r[2]) for r in costs]


def measure(
    url: str,
    log: Path,
    sessions: int,
    changes: int = 5,
    think_s: float = 4.0,
    driver: str = "protocol",
) -> dict:
    """Median server time per Costs rerun while `sessions` users work at once."""
    log.write_text("")
    load = {"protocol": _protocol_load, "browser": _browser_load}[driver]
    errors = asyncio.run(load(url, sessions, changes, think_s))
    ms, cpu = costs_rerun_ms(log)
    return {
        "sessions": sessions,
        "driver": driver,
        "reruns": len(ms),
        "median_ms": statistics.median(ms) if ms else float("nan"),
        "p90_ms": statistics.quantiles(ms, n=10)[-1] if len(ms) >= 10 else max(ms, default=0),
        "median_cpu_ms": statistics.median(cpu) if cpu else float("nan"),
        "errors": errors,
    }
