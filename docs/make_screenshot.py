"""Refresh docs/status-page.png: the status page at phone width (390 px), from a real
`wellgate run` against the simulated well (its level sensor made to fall silent, to show an
offline meter), shot by headless Debian chromium.

    .venv/bin/python docs/make_screenshot.py            # needs the chromium package
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from playwright.sync_api import sync_playwright  # noqa: E402
from status_support import PHONE, TOKEN, StatusSite, launch_chromium, wait_for  # noqa: E402

OUT = ROOT / "docs" / "status-page.png"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="wellgate-shot-") as folder:
        site = StatusSite(Path(folder))
        try:
            site.wait_serving()
            time.sleep(12)  # a few accounting intervals: water to show
            site.command(cmd="inject", device="well-level", fault="dead")  # one meter offline
            wait_for(lambda: site.status()["meters"][2]["state"] == "offline", 30,
                     "the level sensor offline")
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                page = browser.new_page(viewport=PHONE, device_scale_factor=2)
                page.goto(f"{site.url}/?token={TOKEN}")
                page.wait_for_selector("section.meter")
                page.screenshot(path=str(OUT), full_page=True)
                browser.close()
        finally:
            site.stop()
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
