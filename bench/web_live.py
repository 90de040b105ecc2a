"""A status change seen in another signed-in browser: p50 and p99 over 100 changes.

    .venv/bin/python -m bench.web_live [--changes 100] [--out bench/results]

Starts `./voco up` in a temp dir (as the browser tests do, tests/web/platform.py), signs
two new users into two Chromium contexts, the watcher with the other as a contact. Each
change is an HTTP PUT of the watched user's status and note (through the edge, as the
page sends it); it is timed from just before the request to the moment a
MutationObserver in the watcher's page sees the contact's row show that note (both
clocks are this machine's wall clock, in ms). Writes OUT/web-live.json; report only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from tests.web.browser import FLAGS, ensure_chromium
from tests.web.conftest import sign_in
from tests.web.platform import running_platform

OBSERVE = """([ext]) => {
  window.__seen = [];
  const contacts = document.getElementById("contacts");
  new MutationObserver(() => {
    const note = contacts.querySelector(`li[data-contact="${ext}"] .note`);
    if (note && note.textContent !== window.__last) {
      window.__last = note.textContent;
      window.__seen.push([Date.now(), note.textContent]);
    }
  }).observe(contacts, { childList: true, subtree: true, characterData: true });
}"""


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(changes: int) -> dict[str, Any]:
    chromium = ensure_chromium()
    with running_platform() as platform, sync_playwright() as driver:
        watched, watcher = platform.new_user("Bench Watched"), platform.new_user("Bench Watcher")
        with platform.client(watcher.extension, watcher.password) as client:
            client.put(
                f"/api/users/{watcher.extension}/contacts/{watched.extension}"
            ).raise_for_status()
        browser = driver.chromium.launch(executable_path=str(chromium), headless=True, args=FLAGS)
        page = browser.new_context(base_url=platform.url).new_page()
        sign_in(page, watcher.extension, watcher.password)
        page.wait_for_selector(f'#contacts li[data-contact="{watched.extension}"]')
        page.evaluate(OBSERVE, [watched.extension])
        latencies: list[float] = []
        statuses = ["away", "busy", "in_meeting", "be_right_back", "available"]
        with platform.client(watched.extension, watched.password) as client:
            for n in range(changes + 5):  # the first five warm up and are not counted
                note = f"change {n}"
                sent = time.time() * 1000
                client.put(
                    f"/api/users/{watched.extension}/status",
                    json={"status": statuses[n % len(statuses)], "note": note},
                ).raise_for_status()
                seen = page.wait_for_function(
                    "(note) => window.__seen.find(([, text]) => text === note)",
                    arg=note,
                    timeout=10_000,
                ).json_value()
                if n >= 5:
                    latencies.append(seen[0] - sent)
        browser.close()
    return {
        "what": "HTTP status change by one user -> visible in another user's browser (ms)",
        "changes": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1),
        "samples_ms": [round(x, 1) for x in latencies],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.web_live", description=__doc__)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    result = measure(args.changes)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "web-live.json").write_text(json.dumps(result, indent=1) + "\n")
    print(
        f"web live: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
        f"max {result['max_ms']} ms over {result['changes']} changes"
    )


if __name__ == "__main__":
    main()
