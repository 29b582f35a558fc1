"""The dashboard over HTTP: what each page shows from the records, filters and paging over 1,200
runs, hostile text escaped, paths that leave the runs directory refused, and the login, CSRF and
rerun flow against the strict Jenkins double."""

from __future__ import annotations

import re

from markupsafe import escape

from tests.record_support import finished_run
from tests.web.demo_records import MLFLOW_URL

from .conftest import BULK, HOSTILE_METRIC, HOSTILE_REASON, HOSTILE_URL, PASSWORD
from .http_support import get, post

ROW = re.compile(r'<tr class="run-row" data-job="([^"]+)"')


def test_overview_lists_each_project_with_its_latest_run_status_gate_and_key_metric(site):
    page = get(site.url + "/")
    assert page.status == 200
    rows = dict(
        re.findall(
            r'<tr class="project-row" data-project="([^"]+)">\s*<td>.*?</td>\s*<td><a [^>]*>([^<]+)</a>', page.body
        )
    )
    assert rows["bulk"] == f"run-{BULK - 1:04d}"  # the newest
    assert rows["digits"] == "d-3"
    digits = page.body[page.body.index('data-project="digits"') :]
    digits = digits[: digits.index("</tr>")]
    assert 'data-status="Succeeded">Succeeded</span>' in digits  # the colour's class comes with its text
    assert "✔ passed" in digits
    assert '<span class="metric-name">accuracy</span> = 0.97' in digits


def test_runs_are_paged_fifty_at_a_time_over_all_1200(site):
    first = get(site.url + "/?project=bulk")
    assert f"{BULK} runs" in first.body
    assert "Page 1 of 24" in first.body
    assert ROW.findall(first.body) == [f"run-{i:04d}" for i in range(BULK - 1, BULK - 51, -1)]
    last = get(site.url + "/?project=bulk&page=24")
    assert ROW.findall(last.body)[-1] == "run-0000"
    assert 'id="page-next"' not in last.body and 'id="page-prev"' in last.body
    assert "Page 24 of 24" in get(site.url + "/?project=bulk&page=999").body  # clamped, not an error


def test_filters_by_status_and_experiment(site):
    failed = get(site.url + "/?project=bulk&status=Failed").body
    jobs = ROW.findall(failed)
    assert jobs and all(int(j[4:]) % 20 < 10 for j in jobs)  # 0.80..0.89 fail the 0.9 gate
    assert f"{BULK // 2} runs" in failed
    assert ROW.findall(get(site.url + "/?experiment=lr-sweep").body) == ["d-2"]


def test_run_page_shows_build_attempts_gate_metrics_publication_gpus_and_experiment(site):
    body = get(site.url + "/r/digits/d-3").body
    assert 'id="cache-hit">yes<' in body
    assert "mlci/digits:abc123" in body
    assert '<tr class="stage-row"><td>train</td>' in body and "<td>0</td></tr>" in body  # its exit code
    assert "Reason: accuracy = 0.97 &gt;= 0.9" in body
    assert '<td class="metric-name">loss</td>' in body
    assert '<a href="https://huggingface.co/acme/digits/tree/d-3" rel="noopener noreferrer">' in body
    assert 'id="gpus">0 (1): GPU-0000<' in body
    assert f'<a href="{MLFLOW_URL}" rel="noopener noreferrer">MLflow 9f1c</a>' in body
    assert 'href="/r/digits/d-0' in get(site.url + "/r/digits/d-1").body  # the run it reruns
    experiment = get(site.url + "/r/digits/d-2").body
    assert 'id="experiment">lr-sweep<' in experiment
    assert "<td><code>train.lr</code></td><td><code>0.01</code></td>" in experiment


def test_hostile_record_text_is_escaped_and_a_javascript_url_is_no_link(site):
    page = get(site.url + "/r/hostile/h-1")
    assert str(escape(HOSTILE_METRIC)) in page.body
    assert HOSTILE_METRIC not in page.body
    assert HOSTILE_REASON not in page.body and str(escape(HOSTILE_REASON)) in page.body
    assert not re.search(r'href="\s*javascript:', page.body, re.I)
    assert f"<code>{HOSTILE_URL}</code>" in page.body
    assert "&lt;b&gt;down&lt;/b&gt;" in page.body  # the tracker's warning, as text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    plot = get(site.url + "/p/hostile").body
    assert HOSTILE_METRIC not in plot and str(escape(HOSTILE_METRIC)) in plot


def test_a_log_linked_outside_the_run_directory_is_not_followed(site):
    answer = get(site.url + "/r/hostile/h-1/log/1-0?offset=0")
    assert answer.status == 200 and answer.body == "" and answer.headers["x-log-size"] == "0"
    with open("/etc/hostname") as handle:
        secret = handle.read().strip()
    page = get(site.url + "/r/hostile/h-1").body
    assert "(no log yet)" in page.split("1/train")[-1]
    assert not secret or f">{secret}" not in page


def test_paths_that_leave_the_runs_directory_are_refused(site):
    for path in (
        "/r/..%2F..%2Fetc/passwd",
        "/r/%2e%2e/%2e%2e",
        "/r/digits/..",
        "/r/digits/%2e%2e",
        "/p/digits/compare?a=../x&b=d-1",
    ):
        answer = get(site.url + path)
        assert answer.status == 404, path
        assert "root:" not in answer.body


def test_a_half_written_record_is_listed_as_unreadable_and_its_page_says_why(site):
    overview = get(site.url + "/").body
    unreadable = overview[overview.index('id="unreadable"') :]
    assert "damaged/half-written/status.json" in unreadable and "not valid JSON" in unreadable
    page = get(site.url + "/r/damaged/half-written")
    assert page.status == 404 and "cannot be read: not valid JSON" in page.body


def test_plot_has_one_point_per_run_the_threshold_and_kinds_told_apart(site):
    body = get(site.url + "/p/digits").body
    svg = body[body.index('data-metric="accuracy"') : body.index("</svg>")]
    assert re.findall(r'class="point kind-(\w+)"[^>]*data-job="([^"]+)"', svg) == [
        ("run", "d-0"), ("run", "d-1"), ("experiment", "d-2"), ("release", "d-3"),
    ]  # fmt: skip
    assert '<line class="threshold"' in svg and "gate threshold 0.9" in svg


def test_two_runs_side_by_side(site):
    body = get(site.url + "/p/digits/compare?a=d-1&b=d-2").body
    differing = re.findall(
        r'<tr class="compare-row differs" data-section="(\w+)"><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>', body
    )
    assert ("metric", "metric: accuracy", "0.88", "0.95") in differing
    assert ("override", "override: train.lr", "—", "0.01") in differing
    assert ("run", "run: status", "Failed", "Succeeded") in differing


def test_a_200_mb_log_is_served_in_bounded_pieces(site, tmp_path):
    from mlci.web.logs import MAX_CHUNK, TAIL_BYTES

    record = finished_run(site.root, "biglog", "big-1", values=(0.95,))
    line = b"".join(b"step %08d loss 0.123456 lr 0.001 ............................\n" % i for i in range(16384))
    size = 0
    with open(record.dir / "attempt-1" / "train.log", "wb") as handle:  # real blocks, not a sparse file
        while size < 200 << 20:
            handle.write(line)
            size += len(line)
    page = get(site.url + "/r/biglog/big-1")
    assert len(page.body.encode()) < 2 * TAIL_BYTES
    assert "step 00016383" in page.body  # the tail
    middle = get(site.url + f"/r/biglog/big-1/log/1-0?offset={100 << 20}&length={10 << 20}")
    assert len(middle.body.encode()) <= MAX_CHUNK
    assert int(middle.headers["x-log-start"]) == 100 << 20 and int(middle.headers["x-log-size"]) == size
    assert int(middle.headers["x-log-end"]) == (100 << 20) + len(middle.body.encode())


def test_the_server_holds_a_bounded_piece_of_a_huge_log_in_memory(site):
    import tracemalloc

    tracemalloc.start()
    try:
        get(site.url + "/r/biglog/big-1/log/1-0?offset=0")
        get(site.url + "/r/biglog/big-1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20  # the log is 200 MiB; reading it whole would pass 200 MiB


def test_language_from_query_and_accept_language(site):
    assert 'data-status="Succeeded">成功</span>' in get(site.url + "/?lang=ja").body
    ja = get(site.url + "/r/digits/d-3", headers={"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.5"}).body
    assert '<html lang="ja">' in ja and "キャッシュ利用" in ja and "成果物" in ja and "年" in ja
    en = get(site.url + "/r/digits/d-3", headers={"Accept-Language": "fr, en;q=0.5, ja;q=0.1"}).body
    assert "Cache hit" in en


def test_rerun_needs_a_login_and_the_csrf_token_and_triggers_the_project_job(site):
    run = "/r/bulk/run-0000"  # failed its gate
    before = len(site.jenkins.state.triggered)
    assert 'id="rerun"' not in get(site.url + run).body
    assert post(site.url + run + "/rerun", {"csrf": "x"}).status == 403
    assert post(site.url + "/login", {"password": "wrong"}).status == 403
    login = post(site.url + "/login", {"password": PASSWORD})
    assert login.status == 303
    cookie = login.headers["set-cookie"].split(";")[0]
    assert "HttpOnly" in login.headers["set-cookie"] and "SameSite=strict" in login.headers["set-cookie"]
    page = get(site.url + run, headers={"Cookie": cookie}).body
    token = re.search(r'id="rerun-form">\s*<input type="hidden" name="csrf" value="([0-9a-f]+)">', page).group(1)
    assert 'id="rerun"' not in get(site.url + "/r/digits/d-3", headers={"Cookie": cookie}).body  # succeeded
    assert post(site.url + run + "/rerun", {"csrf": "0" * 64}, cookie=cookie).status == 403
    assert post(site.url + run + "/rerun", {"csrf": token}, cookie="mlci_dashboard_session=forged.abc").status == 403
    assert len(site.jenkins.state.triggered) == before
    done = post(site.url + run + "/rerun", {"csrf": token}, cookie=cookie)
    assert done.status == 303 and done.headers["location"].startswith(run + "?queued=")
    assert site.jenkins.state.triggered[before:] == [("mlci-project-bulk", {})]
    assert "Queued in Jenkins as queue item" in get(site.url + done.headers["location"]).body


def test_a_rerun_jenkins_refuses_is_an_error_page_without_credentials(site):
    from .conftest import JENKINS_TOKEN

    login = post(site.url + "/login", {"password": PASSWORD})
    cookie = login.headers["set-cookie"].split(";")[0]
    page = get(site.url + "/r/digits/d-1", headers={"Cookie": cookie}).body  # failed; Jenkins has no such job
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    answer = post(site.url + "/r/digits/d-1/rerun", {"csrf": token}, cookie=cookie)
    assert answer.status == 502
    assert "mlci-project-digits" in answer.body
    assert JENKINS_TOKEN not in answer.body and PASSWORD not in answer.body


def test_a_run_directory_linked_from_elsewhere_is_not_served(site, tmp_path):
    elsewhere = finished_run(tmp_path, "digits", "planted", values=(0.95,))
    link = site.root / ".mlci" / "runs" / "digits" / "planted"
    link.symlink_to(elsewhere.dir)
    try:
        answer = get(site.url + "/r/digits/planted")
        assert answer.status == 404 and "a link out of the runs directory" in answer.body
        assert get(site.url + "/r/digits/planted/log/build?offset=0").status == 404
        assert 'data-job="planted"' not in get(site.url + "/?project=digits").body
    finally:
        link.unlink()
