"""What `mlci doctor --gpu-smoke` runs inside containers: python3's standard library only, because
the image is a project's (or mlci's base image), not one with the CUDA toolkit.

`python3 -c <this file> cuda` initialises CUDA through the driver library itself (libcuda.so.1,
which the NVIDIA runtime hook or the CDI spec mounts into the container): cuInit, cuDeviceGetCount,
then for each device its UUID, a context (cuCtxCreate) and a 64 MiB allocation (cuMemAlloc). It
prints one line, `MLCI-CUDA <json>`. The result codes are CUDA's CUresult values with their names
(cuGetErrorName), e.g. 802 CUDA_ERROR_SYSTEM_NOT_READY when Fabric Manager is not running.

`python3 probe.py stage [cuda]` is a stage of `mlci run`: it prints the limits the stage got
(`MLCI-LIMITS <json>`), runs the CUDA probe in a fresh process, writes `ready` into
$MLCI_OUTPUT_DIR, waits for `go` there (the smoke check does a `systemctl daemon-reload` in between)
and runs the CUDA probe again in a new process: device access is checked when a device node is
opened, so only a process started after the reload shows whether the container kept its GPUs.
"""

import ctypes
import json
import os
import resource
import subprocess
import sys
import time

ALLOC_BYTES = 64 << 20
WAIT_FOR_GO_S = 300


def _name(cuda, code):
    text = ctypes.c_char_p()
    if code is None or cuda.cuGetErrorName(code, ctypes.byref(text)) != 0 or not text.value:
        return ""
    return text.value.decode(errors="replace")


def _uuid(raw):
    h = bytes(raw).hex()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def cuda():
    """CUDA through libcuda: a dict with the result code of each call, per device."""
    nodes = sorted(n for n in os.listdir("/dev") if n.startswith("nvidia") and n[6:].isdigit())
    result = {"nodes": nodes, "devices": []}
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        result["error"] = f"libcuda.so.1 is not in the container ({exc})"
        return result
    result["init"] = lib.cuInit(0)
    result["init_name"] = _name(lib, result["init"])
    if result["init"] != 0:
        return result
    count = ctypes.c_int(0)
    result["count_result"] = lib.cuDeviceGetCount(ctypes.byref(count))
    for ordinal in range(count.value):
        device = ctypes.c_int(0)
        entry = {"ordinal": ordinal, "get": lib.cuDeviceGet(ctypes.byref(device), ordinal)}
        raw = (ctypes.c_ubyte * 16)()
        entry["uuid"] = _uuid(raw) if lib.cuDeviceGetUuid(ctypes.byref(raw), device) == 0 else ""
        context = ctypes.c_void_p()
        entry["ctx"] = lib.cuCtxCreate_v2(ctypes.byref(context), 0, device)
        entry["ctx_name"] = _name(lib, entry["ctx"])
        if entry["ctx"] == 0:
            pointer = ctypes.c_uint64(0)
            entry["alloc"] = lib.cuMemAlloc_v2(ctypes.byref(pointer), ctypes.c_size_t(ALLOC_BYTES))
            entry["alloc_name"] = _name(lib, entry["alloc"])
            if entry["alloc"] == 0:
                lib.cuMemFree_v2(pointer)
            lib.cuCtxDestroy_v2(context)
        result["devices"].append(entry)
    return result


def _fresh_cuda():
    """The CUDA probe in a new process (it opens the device nodes anew)."""
    done = subprocess.run([sys.executable, __file__, "cuda"], capture_output=True, text=True, timeout=240)
    for line in done.stdout.splitlines():
        if line.startswith("MLCI-CUDA "):
            return json.loads(line[len("MLCI-CUDA ") :])
    return {"error": f"the CUDA probe exited {done.returncode}: {(done.stdout + done.stderr).strip()[-400:]}"}


def _limit(which):
    soft, _hard = resource.getrlimit(which)
    return "unlimited" if soft == resource.RLIM_INFINITY else soft


def stage(with_cuda):
    shm = os.statvfs("/dev/shm")
    limits = {
        "shm_bytes": shm.f_blocks * shm.f_frsize,
        "memlock": _limit(resource.RLIMIT_MEMLOCK),
        "stack": _limit(resource.RLIMIT_STACK),
        "gpu_uuids": os.environ.get("MLCI_GPU_UUIDS"),
        "cuda_device_order": os.environ.get("CUDA_DEVICE_ORDER"),
    }
    print("MLCI-LIMITS " + json.dumps(limits), flush=True)
    if not with_cuda:
        return
    print("MLCI-BEFORE " + json.dumps(_fresh_cuda()), flush=True)
    out = os.environ["MLCI_OUTPUT_DIR"]
    with open(os.path.join(out, "ready"), "w"):
        pass
    deadline = time.monotonic() + WAIT_FOR_GO_S
    while not os.path.exists(os.path.join(out, "go")) and time.monotonic() < deadline:
        time.sleep(0.2)
    print("MLCI-AFTER " + json.dumps(_fresh_cuda()), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["stage"]:
        stage(with_cuda=sys.argv[2:3] == ["cuda"])
    else:
        print("MLCI-CUDA " + json.dumps(cuda()), flush=True)
