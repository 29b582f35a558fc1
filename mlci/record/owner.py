"""Who runs a job: host, pid, the pid's start time and the boot, so any reader can tell a live run
from one whose process died (pid reuse is caught by the start time, a reboot by the boot id)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from mlci.record.model import Owner


def process_start_ticks(pid: int) -> int | None:
    """The kernel's start time of `pid` (clock ticks since boot), to detect pid reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # field 22, counted after the parenthesised command name (which may contain spaces)
    return int(stat.rsplit(")", 1)[1].split()[19])


def boot_id() -> str | None:
    """This kernel boot's id: a process recorded under another boot is dead, whatever its pid."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def current_owner() -> Owner:
    pid = os.getpid()
    return Owner(pid=pid, host=socket.gethostname(), start_ticks=process_start_ticks(pid), boot=boot_id())


def owner_alive(owner: Owner | None) -> bool:
    """False only when the owner is provably dead: same host, and another boot or no process with
    that pid and start time. Another host's (or container's) run cannot be checked from here."""
    if owner is None:
        return False
    if owner.host != socket.gethostname():
        return True  # another machine's run: we cannot tell, so do not call it dead
    if owner.boot and boot_id() and owner.boot != boot_id():
        return False
    return process_start_ticks(owner.pid) == owner.start_ticks
