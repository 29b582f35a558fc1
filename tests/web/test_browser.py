"""The dashboard in a real browser: Debian's Chromium driven through chromium-driver (WebDriver).

Screenshots land in the session's pytest tmp dir (`screenshots/`), in English and Japanese.
"""

from __future__ import annotations

import os
import shutil

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from .conftest import HOSTILE_METRIC, PASSWORD, finish_live

WAIT = 30  # the longest a condition may take before the test fails (not a timing assertion)


@pytest.fixture(scope="session")
def browser():
    driver_path = shutil.which("chromedriver")
    assert driver_path, "chromium-driver is missing: run ./scripts/setup.sh --test"
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1400", "--lang=en-US"):
        options.add_argument(arg)
    chromium = shutil.which("chromium")
    if chromium:
        options.binary_location = chromium
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("screenshots")


def wait_for(browser, condition):
    return WebDriverWait(browser, WAIT, poll_frequency=0.2).until(lambda _: condition())


def texts(browser, selector):
    return [e.text for e in browser.find_elements(By.CSS_SELECTOR, selector)]


def test_overview_shows_projects_and_status_text(site, browser, shots):
    browser.get(site.url + "/")
    projects = {
        row.get_attribute("data-project"): row.text for row in browser.find_elements(By.CSS_SELECTOR, "tr.project-row")
    }
    assert {"bulk", "digits", "hostile", "live"} <= set(projects)
    assert "d-3" in projects["digits"] and "Succeeded" in projects["digits"] and "passed" in projects["digits"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#runs tr.run-row")) == 50
    browser.save_screenshot(str(shots / "overview-en.png"))
    browser.get(site.url + "/?lang=ja")
    assert "ジョブ一覧" in browser.find_element(By.TAG_NAME, "h2").text
    assert "成功" in browser.find_element(By.CSS_SELECTOR, 'tr.project-row[data-project="digits"]').text
    browser.save_screenshot(str(shots / "overview-ja.png"))


def test_filters_and_paging(site, browser):
    browser.get(site.url + "/")
    Select(browser.find_element(By.ID, "filter-project")).select_by_value("bulk")
    Select(browser.find_element(By.ID, "filter-status")).select_by_value("Failed")
    browser.find_element(By.ID, "apply-filters").click()
    wait_for(browser, lambda: "status=Failed" in browser.current_url)
    statuses = texts(browser, "#runs tr.run-row td:nth-child(3)")
    assert len(statuses) == 50 and set(statuses) == {"Failed"}
    assert browser.find_element(By.ID, "page-of").text == "Page 1 of 12"
    first = texts(browser, "#runs tr.run-row td:nth-child(2)")
    browser.find_element(By.ID, "page-next").click()
    wait_for(browser, lambda: browser.find_element(By.ID, "page-of").text == "Page 2 of 12")
    second = texts(browser, "#runs tr.run-row td:nth-child(2)")
    assert second and not set(first) & set(second)
    assert set(texts(browser, "#runs tr.run-row td:nth-child(3)")) == {"Failed"}


def test_hostile_record_renders_inert(site, browser, shots):
    browser.get(site.url + "/r/hostile/h-1")
    assert browser.execute_script("return window.__pwned === undefined")
    assert HOSTILE_METRIC in texts(browser, "#metrics td.metric-name")
    assert browser.find_elements(By.CSS_SELECTOR, "#artifact a") == []
    browser.get(site.url + "/p/hostile")
    assert browser.execute_script("return window.__pwned === undefined")
    assert HOSTILE_METRIC in texts(browser, "figcaption")


def test_plot_has_one_point_per_run(site, browser, shots):
    browser.get(site.url + "/p/digits?lang=ja")
    points = browser.find_elements(By.CSS_SELECTOR, 'svg[data-metric="accuracy"] .point')
    assert [p.get_attribute("data-job") for p in points] == ["d-0", "d-1", "d-2", "d-3"]
    assert browser.find_elements(By.CSS_SELECTOR, 'svg[data-metric="accuracy"] line.threshold')
    assert "ジョブごとのメトリクス推移" in browser.page_source
    browser.save_screenshot(str(shots / "plot-ja.png"))


def test_run_page_follows_a_running_stage_live(site, browser, shots):
    browser.get(site.url + "/r/live/live-1")
    status = browser.find_element(By.ID, "run-status")
    assert status.text == "Running"
    live = browser.find_element(By.ID, "live-log")
    assert "epoch 1 loss 0.9" in live.text
    log = site.live.path("attempt-1/train.log")
    with log.open("a") as handle:
        handle.write("epoch 2 loss 0.5\n<b>not bold</b>\n")
    wait_for(browser, lambda: "epoch 2 loss 0.5" in live.text)
    assert "<b>not bold</b>" in live.text  # appended as text
    browser.save_screenshot(str(shots / "run-live-en.png"))
    with log.open("a") as handle:
        handle.write("epoch 3 loss 0.2\n")
    finish_live(site.live)
    wait_for(browser, lambda: status.get_attribute("data-status") == "Succeeded")
    assert status.text == "Succeeded"
    wait_for(browser, lambda: "epoch 3 loss 0.2" in live.text)


def test_rerun_button_only_after_login_and_it_queues_the_job(site, browser, shots):
    browser.delete_all_cookies()
    browser.get(site.url + "/r/bulk/run-0001")
    assert browser.find_elements(By.ID, "rerun") == []
    browser.find_element(By.ID, "login-link").click()
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login-submit").click()
    wait_for(browser, lambda: browser.find_elements(By.ID, "logout"))
    browser.get(site.url + "/r/bulk/run-0001?lang=ja")
    button = browser.find_element(By.ID, "rerun")
    assert button.text == "再実行"
    browser.save_screenshot(str(shots / "run-ja.png"))
    before = len(site.jenkins.state.triggered)
    button.click()
    wait_for(browser, lambda: browser.find_elements(By.ID, "rerun-queued"))
    assert site.jenkins.state.triggered[before:] == [("mlci-project-bulk", {})]


HELD_TRAIN = """\
import json, os, time
tick = 0
while not os.path.exists("/mlci/cache/release") and tick < 600:  # the test releases it
    tick += 1
    print(f"waiting tick {tick}", flush=True)
    time.sleep(0.5)
print("released", flush=True)
json.dump({"accuracy": 0.96}, open(os.environ["MLCI_OUTPUT_DIR"] + "/metrics.json", "w"))
"""


@pytest.mark.docker
def test_a_real_mlci_run_feeds_the_page_live(site, browser, base_image, tmp_path):
    import subprocess
    import sys

    from mlci.record.readers import iter_records
    from tests.conftest import commit_all, write_project

    write_project(
        site.root,
        "realrun",
        "gpus: none\nstages:\n  - {name: train, run: python -u train.py}\ngate: {metric: accuracy, min: 0.9}\n",
        files={"train.py": HELD_TRAIN},
    )
    if not (site.root / ".git").exists():
        subprocess.run(["git", "init", "-q", "-b", "main", str(site.root)], check=True)
        (site.root / ".gitignore").write_text(".mlci/\n")
    commit_all(site.root)
    env = {**os.environ, "MLCI_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlci", "--root", str(site.root), "run", "realrun", "--job-id", "real-1", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:

        def training() -> bool:
            assert proc.poll() is None, proc.communicate()
            run = next(iter_records(site.root, "realrun", report=None), None)
            return bool(run and run.state.attempts and run.state.attempts[-1].stages)

        WebDriverWait(browser, 300, poll_frequency=0.2).until(lambda _: training())
        browser.get(site.url + "/r/realrun/real-1")
        status = browser.find_element(By.ID, "run-status")
        assert status.get_attribute("data-status") == "Running"
        live = browser.find_element(By.ID, "live-log")
        first = live.text
        wait_for(browser, lambda: live.text != first and "waiting tick" in live.text)  # it grows in the page
        assert "released" not in live.text
        (tmp_path / "cache" / "projects" / "realrun" / "release").touch()
        wait_for(browser, lambda: "released" in live.text)
        WebDriverWait(browser, 120, poll_frequency=0.2).until(
            lambda _: status.get_attribute("data-status") == "Succeeded"
        )
        assert status.text == "Succeeded"
        assert proc.wait(120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
