"""Runner pieces that need no engine: GPU requests, context hashing, gate, records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from mlci.contract import RUNS_DIR_ENV
from mlci.errors import MlciError, UsageError
from mlci.manifest.project import Gate
from mlci.record import store as records
from mlci.record.model import RunStatus
from mlci.record.owner import process_start_ticks
from mlci.record.readers import find_record, iter_records
from mlci.run.gate import judge, read_metrics
from mlci.runner.gpus import (
    Gpu,
    cdi_requested,
    control_device_nodes,
    load_inventory,
    parse_cli_gpus,
    parse_gpus,
    plan_gpus,
)
from mlci.runner.image import context_hash


def test_gpu_requests_become_device_requests():
    assert plan_gpus(parse_gpus("none"), True).device_request is None
    auto_cpu = plan_gpus(parse_gpus("auto"), False)
    assert auto_cpu.device_request is None and "running on the CPU" in auto_cpu.notice
    auto_gpu = plan_gpus(parse_gpus("auto"), True)
    assert auto_gpu.device_request["Count"] == -1 and auto_gpu.device_request["Capabilities"] == [["gpu"]]
    devices = plan_gpus(parse_gpus("0,1"), False)
    assert devices.device_request["DeviceIDs"] == ["0", "1"] and devices.devices == "0,1"
    assert plan_gpus(parse_gpus(2), False).device_request["Count"] == 2
    assert plan_gpus(parse_gpus([3]), False).device_request["DeviceIDs"] == ["3"]
    with pytest.raises(UsageError, match="not understood"):
        parse_gpus("two")
    with pytest.raises(UsageError, match="listed twice"):
        parse_gpus("1,1")


def test_cli_gpus_cannot_confuse_a_count_with_a_device():
    with pytest.raises(UsageError, match=r"--gpus 2 is ambiguous: say --gpus count=2 .* or --gpus device=2"):
        parse_cli_gpus("2")
    assert parse_cli_gpus("count=2") == parse_gpus(2)  # as project.yaml and Docker read 2
    assert parse_cli_gpus("device=2").devices == (2,)
    assert parse_cli_gpus("device=0,3").devices == (0, 3)
    assert parse_cli_gpus("0,1").devices == (0, 1)  # a list is indexes (Jenkins' leases)
    assert parse_cli_gpus("count=0").mode == "none"
    for bad in ("count=two", "device=", "device=a", "count=-1", "2,x"):
        with pytest.raises(UsageError):
            parse_cli_gpus(bad)


INVENTORY = [Gpu(0, "GPU-aaaa"), Gpu(1, "GPU-bbbb"), Gpu(2, "GPU-cccc")]


def test_leases_name_the_hosts_gpus_by_uuid():
    pair = plan_gpus(parse_cli_gpus("0,2"), True, INVENTORY)
    assert pair.device_request["DeviceIDs"] == ["GPU-aaaa", "GPU-cccc"] and pair.uuids == ("GPU-aaaa", "GPU-cccc")
    assert pair.devices == "0,2"
    every = plan_gpus(parse_gpus("all"), True, INVENTORY)
    assert every.device_request["DeviceIDs"] == ["GPU-aaaa", "GPU-bbbb", "GPU-cccc"]
    assert every.device_request["Count"] == 0
    two = plan_gpus(parse_gpus(2), True, INVENTORY)
    assert two.uuids == ("GPU-aaaa", "GPU-bbbb")
    with pytest.raises(MlciError, match=r"GPU 3 is not on this host \(it has 0=GPU-aaaa, 1=GPU-bbbb, 2=GPU-cccc\)"):
        plan_gpus(parse_cli_gpus("device=3"), True, INVENTORY)
    with pytest.raises(MlciError, match="4 GPUs were requested but this host has 3"):
        plan_gpus(parse_gpus(4), True, INVENTORY)
    assert plan_gpus(parse_gpus("none"), True, INVENTORY).uuids == ()


def test_legacy_requests_carry_the_leased_gpus_device_nodes(tmp_path):
    """Legacy hosts (no CDI): the leased GPUs' and the driver's device nodes go to the container
    explicitly, so a daemon-reload cannot take them away; CDI hosts and old inventories get none."""
    inventory = tmp_path / "gpus.json"
    inventory.write_text(
        json.dumps(
            {
                "requests": "legacy",
                "gpus": [
                    {"index": 0, "uuid": "GPU-a", "device_node": "/dev/nvidia0"},
                    {"index": 1, "uuid": "GPU-b", "device_node": "/dev/nvidia1"},
                ],
                "control_device_nodes": ["/dev/nvidiactl", "/dev/nvidia-uvm", "/etc/shadow", "/dev/nvidia-uvm-tools"],
            }
        )
    )
    gpus, control = load_inventory(inventory), control_device_nodes(inventory)
    assert control == ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools")  # nothing but NVIDIA nodes
    plan = plan_gpus(parse_cli_gpus("device=1"), True, gpus, control_nodes=control)
    assert plan.device_nodes == (*control, "/dev/nvidia1")
    assert plan_gpus(parse_gpus("all"), True, gpus, control_nodes=control).device_nodes[-2:] == (
        "/dev/nvidia0",
        "/dev/nvidia1",
    )
    assert plan_gpus(parse_cli_gpus("device=1"), True, gpus, cdi=True, control_nodes=control).device_nodes == ()
    assert plan_gpus(parse_cli_gpus("device=1"), True, INVENTORY, control_nodes=control).device_nodes == ()


def test_inventory_file_from_ansible(tmp_path, monkeypatch):
    inventory = tmp_path / "gpus.json"
    inventory.write_text(
        json.dumps({"host": "gpu-01", "gpus": [{"index": 1, "uuid": "GPU-b"}, {"index": 0, "uuid": "GPU-a"}]})
    )
    assert load_inventory(inventory) == [Gpu(0, "GPU-a"), Gpu(1, "GPU-b")]
    inventory.write_text("{not json")
    assert load_inventory(inventory) is None
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi either
    assert load_inventory(tmp_path / "absent.json") is None


def _context(tmp_path):
    ctx = tmp_path / "ctx"
    (ctx / "src").mkdir(parents=True)
    (ctx / "Dockerfile").write_text("FROM x\n")
    (ctx / "src" / "train.py").write_text("print(1)\n")
    (ctx / "notes.md").write_text("notes\n")
    (ctx / ".dockerignore").write_text("# comment\nnotes.md\n")
    return ctx


def test_context_hash_follows_content_and_dockerignore(tmp_path):
    ctx = _context(tmp_path)
    first = context_hash(ctx, "sha256:base", {"BASE_IMAGE": "b"})
    (ctx / "notes.md").write_text("edited, but ignored\n")
    assert context_hash(ctx, "sha256:base", {"BASE_IMAGE": "b"}) == first
    (ctx / "src" / "train.py").write_text("print(2)\n")
    changed = context_hash(ctx, "sha256:base", {"BASE_IMAGE": "b"})
    assert changed != first
    os.chmod(ctx / "src" / "train.py", 0o755)
    assert context_hash(ctx, "sha256:base", {"BASE_IMAGE": "b"}) != changed
    assert context_hash(ctx, "sha256:other", {"BASE_IMAGE": "b"}) != context_hash(
        ctx, "sha256:base", {"BASE_IMAGE": "b"}
    )
    assert context_hash(ctx, "sha256:base", {"BASE_IMAGE": "c"}) != context_hash(
        ctx, "sha256:base", {"BASE_IMAGE": "b"}
    )


def test_gate_verdicts(tmp_path):
    gate = Gate(metric="accuracy", min=0.9)
    assert judge(gate, {"accuracy": 0.95}, None).passed is True
    failed = judge(gate, {"accuracy": 0.5}, None)
    assert failed.passed is False and failed.reason == "accuracy = 0.5 not >= 0.9"
    assert judge(Gate(metric="loss", max=0.1), {"loss": 0.05}, None).passed is True
    assert "missing" in judge(gate, {"f1": 1.0}, None).reason
    assert judge(None, {}, None).passed is True
    (tmp_path / "metrics.json").write_text('{"accuracy": 0.9, "note": "text", "flag": true, "n": 3}')
    assert read_metrics(tmp_path) == (
        {"accuracy": 0.9, "n": 3.0},
        None,
        {"note": "a string, not a number", "flag": "a boolean, not a number"},
    )
    (tmp_path / "metrics.json").write_text("{broken")
    assert "not valid JSON" in read_metrics(tmp_path)[1]


def test_records_are_atomic_and_detect_dead_owners(tmp_path):
    record = records.RunRecord.create(tmp_path, "p", "job-1")
    assert record.status == RunStatus.QUEUED  # we own it and we are alive
    assert not list(record.dir.glob(".*.tmp"))
    loaded = records.RunRecord.load(record.dir)
    assert loaded.state.owner is not None and loaded.state.owner.pid == os.getpid()

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    owner = loaded.state.owner
    loaded.state.owner = owner.model_copy(update={"pid": child.pid, "start_ticks": process_start_ticks(child.pid)})
    loaded.save()
    assert records.RunRecord.load(record.dir).status == RunStatus.QUEUED
    child.kill()
    child.wait()
    assert records.RunRecord.load(record.dir).status == RunStatus.INTERRUPTED
    # a reused pid (same number, different start time) is not mistaken for the owner
    loaded.state.owner = loaded.state.owner.model_copy(update={"pid": os.getpid()})
    loaded.save()
    assert records.RunRecord.load(record.dir).status == RunStatus.INTERRUPTED


def test_a_record_that_cannot_be_saved_leaves_the_old_file(tmp_path, monkeypatch):
    record = records.RunRecord.create(tmp_path, "p", "job-1")
    before = (record.dir / "status.json").read_text()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("mlci.atomic.os.fdopen", full_disk)
    record.state.begin_build()
    with pytest.raises(records.RecordWriteError, match=r"cannot write the run record .*status.json: No space left"):
        record.save()
    assert (record.dir / "status.json").read_text() == before
    assert [p.name for p in record.dir.iterdir()] == ["status.json"]


def test_iter_records_is_newest_first(tmp_path):
    records.RunRecord.create(tmp_path, "p", "old")
    time.sleep(0.01)
    records.RunRecord.create(tmp_path, "p", "new")
    assert [r.job_id for r in iter_records(tmp_path, "p")] == ["new", "old"]
    assert find_record(tmp_path, "p").job_id == "new"
    with pytest.raises(UsageError, match="no run 'nope'"):
        find_record(tmp_path, "p", "nope")


def test_runs_dir_follows_mlci_runs_dir(tmp_path, monkeypatch):
    checkout, host_runs = tmp_path / "checkout", tmp_path / "srv" / "runs"
    monkeypatch.delenv(RUNS_DIR_ENV, raising=False)
    assert records.runs_dir(checkout, "p") == checkout / ".mlci" / "runs" / "p"
    monkeypatch.setenv(RUNS_DIR_ENV, str(host_runs))
    assert records.runs_dir(checkout) == host_runs
    # every way a record is made or found goes through it: create, claim, find, iterate
    created = records.RunRecord.create(checkout, "p", "made")
    job, claimed = records.claim_job_dir(checkout, "p", "claimed", next_free=False)
    records.RunRecord.create(checkout, "p", job, claimed=True)
    assert created.dir == host_runs / "p" / "made" and claimed == host_runs / "p" / "claimed"
    assert not (checkout / ".mlci").exists()
    assert find_record(checkout, "p", "made").dir == created.dir
    assert sorted(r.job_id for r in iter_records(checkout)) == ["claimed", "made"]
    monkeypatch.setenv(RUNS_DIR_ENV, "")  # empty is unset, as in a shell
    assert records.runs_dir(checkout) == checkout / ".mlci" / "runs"


@pytest.mark.parametrize(
    "value", ["relative/runs", "./runs", "~/runs", "/", "//", "/srv/../etc", "/srv/runs\n", "/a b"]
)
def test_runs_dir_refuses_relative_or_unsafe_values(tmp_path, monkeypatch, value):
    monkeypatch.setenv(RUNS_DIR_ENV, value)
    with pytest.raises(UsageError, match=r"MLCI_RUNS_DIR=.* is not usable as the runs directory") as err:
        records.runs_dir(tmp_path, "p")
    assert "absolute path" in str(err.value)


def test_status_cli_reads_the_runs_dir_and_refuses_a_bad_one(tmp_path, monkeypatch):
    checkout, host_runs = tmp_path / "checkout", tmp_path / "runs"
    (checkout / "projects" / "p").mkdir(parents=True)
    (checkout / "projects" / "p" / "project.yaml").write_text("{}\n")
    env = {**os.environ, "MLCI_ROOT": str(checkout), RUNS_DIR_ENV: str(host_runs)}
    monkeypatch.setenv(RUNS_DIR_ENV, str(host_runs))
    records.RunRecord.create(checkout, "p", "from-jenkins").close(RunStatus.SUCCEEDED, None)
    mlci = [sys.executable, "-m", "mlci"]
    shown = subprocess.run([*mlci, "status", "--json"], env=env, capture_output=True, text=True, check=True)
    rows = json.loads(shown.stdout)
    assert [(r["jobId"], r["status"], r["record"]) for r in rows] == [
        ("from-jenkins", "Succeeded", str(host_runs / "p" / "from-jenkins"))
    ]
    env[RUNS_DIR_ENV] = "runs"
    bad = subprocess.run([*mlci, "status"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "MLCI_RUNS_DIR='runs' is not usable" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_log_sink_masks_secrets_even_across_chunk_boundaries(tmp_path):
    import io

    from mlci.runner.logsink import LogSink

    console = io.BytesIO()
    with LogSink(tmp_path / "x.log", console=console, secrets=["hunter2-token"]) as sink:
        sink.write(b"before hunter2-tok")
        sink.write(b"en after; again hunter2-token")
        for byte in b" split hunter2-token byte by byte\n":
            sink.write(bytes([byte]))
    text = (tmp_path / "x.log").read_bytes()
    assert text == b"before **** after; again **** split **** byte by byte\n"
    assert console.getvalue() == text


def test_cdi_hosts_get_cdi_device_requests(tmp_path):
    inventory = tmp_path / "gpus.json"
    inventory.write_text(json.dumps({"requests": "cdi", "gpus": [{"index": 0, "uuid": "GPU-a"}]}))
    assert cdi_requested(inventory)
    pair = plan_gpus(parse_cli_gpus("device=0"), True, load_inventory(inventory), cdi=True)
    assert pair.device_request["Driver"] == "cdi" and pair.device_request["DeviceIDs"] == ["nvidia.com/gpu=GPU-a"]
    every = plan_gpus(parse_gpus("all"), True, None, cdi=True)
    assert every.device_request["DeviceIDs"] == ["nvidia.com/gpu=all"]
    two = plan_gpus(parse_gpus(2), True, None, cdi=True)  # CDI has no count: the first two indexes
    assert two.device_request["DeviceIDs"] == ["nvidia.com/gpu=0", "nvidia.com/gpu=1"]
    inventory.write_text(json.dumps({"requests": "legacy", "gpus": []}))
    assert not cdi_requested(inventory)
