"""Screenshots of the dashboard for the README, generated (never by hand): a demo runs directory made
through the record's transitions, the real app on 127.0.0.1, Debian's Chromium through WebDriver.

    .venv/bin/python scripts/dashboard_screenshots.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    args = parser.parse_args()
    import uvicorn
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from mlci.web.app import Settings, create_app
    from tests.web.demo_records import demo_site

    os.environ.pop("MLCI_RUNS_DIR", None)
    root = Path(tempfile.mkdtemp(prefix="mlci-shots-"))
    try:
        demo_site(root, bulk_runs=60)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(create_app(Settings(root=root)), log_level="warning"))
        threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        options = webdriver.ChromeOptions()
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900"):
            options.add_argument(arg)
        options.binary_location = shutil.which("chromium") or ""
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        args.out.mkdir(parents=True, exist_ok=True)
        try:
            for name, path in (
                ("dashboard-overview.png", "/?lang=ja"),
                ("dashboard-run.png", "/r/digits/d-3?lang=ja"),
                ("dashboard-plot.png", "/p/digits?lang=ja"),
                ("dashboard-overview-en.png", "/?lang=en"),
            ):
                driver.get(url + path)
                driver.save_screenshot(str(args.out / name))
                print(args.out / name)
        finally:
            driver.quit()
            server.should_exit = True
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
