"""Evaluate (on the CPU): count the failing drives; the gate wants none (ng <= 0)."""

from __future__ import annotations

from common import OUT, read_json, write_json

drives = read_json(OUT / "drives.json")
failures = [{"id": d["id"], "kind": d["kind"], "difficulty": d["difficulty"]} for d in drives if d["crashed"]]
write_json("failures.json", failures)
write_json("metrics.json", {"ng": len(failures), "drives": len(drives), "ok_rate": 1 - len(failures) / len(drives)})
for failure in failures:
    print(f"drive-sim: NG {failure['id']} ({failure['kind']}, difficulty {failure['difficulty']})")
print(f"drive-sim: {len(failures)} of {len(drives)} scenarios failed")
