"""Train: a policy that handles scenarios up to its skill, plus the ones the last attempt failed."""

from __future__ import annotations

import os

from common import PREVIOUS, config, read_json, write_json

settings = config()
policy = {"skill": settings["policy"]["skill"], "careful": []}
if PREVIOUS is not None and (PREVIOUS / "failures.json").is_file():
    # retrain feedback: the scenarios the previous attempt crashed in become training data
    failures = read_json(PREVIOUS / "failures.json")
    previous = read_json(PREVIOUS / "policy.json")
    policy["careful"] = sorted({*previous["careful"], *(f["id"] for f in failures)})
    print(f"drive-sim: attempt {os.environ['MLCI_ATTEMPT']} learns from {len(failures)} failing scenarios "
          f"of attempt {os.environ['MLCI_PREVIOUS_ATTEMPT']} ({os.environ['MLCI_PREVIOUS_GATE']})")
write_json("policy.json", policy)
print(f"drive-sim: policy skill {policy['skill']}, careful in {len(policy['careful'])} scenarios")
