"""The Groovy library's copies of names whose source of truth is Python (mlci.contract and the
record model): each copy is read out of the library's source and compared, so changing one side
alone fails here."""

from __future__ import annotations

import re
from pathlib import Path

from mlci import contract
from mlci.manifest.fields import NAME_RE, POSIX_USER_RE
from mlci.publish.promotion import APPROVED_ENV
from mlci.publish.promotion_log import WHO_RE
from mlci.record.model import FINAL
from mlci.record.parts import VERSION_PATTERN

LIBRARY = Path(__file__).resolve().parents[2] / "jenkins" / "library"


def test_the_final_statuses_match_the_record_model():
    source = (LIBRARY / "src" / "mlci" / "Records.groovy").read_text()
    [listed] = re.findall(r"static final List<String> FINAL = \[([^\]]*)\]", source)
    assert re.findall(r"'([^']*)'", listed) == [status.value for status in FINAL]


def test_the_runs_dir_rule_matches_mlci_contract():
    source = (LIBRARY / "vars" / "mlciTrain.groovy").read_text()
    [pattern] = re.findall(r"runs ==~ /(.+?)/\)", source)
    assert pattern.replace("\\/", "/") == contract.RUNS_DIR_PATTERN
    assert f"'{contract.RUNS_DIR_ENV}'" in source or f"env.{contract.RUNS_DIR_ENV}" in source
    assert '".mlci/runs/${name}/${jobId}"' in source and contract.RUNS_DIR.as_posix() == ".mlci/runs"
    assert "split('/').contains('..')" in source  # the '..' half of runs_dir_usable


def test_the_job_id_the_library_makes_is_one_mlci_accepts():
    source = (LIBRARY / "src" / "mlci" / "JobId.groovy").read_text()
    # <commit12>-<job (at most 80 of [A-Za-z0-9._-], no leading/trailing punctuation)>-<build (1-10 digits)>
    assert "sha.substring(0, 12)" in source and "job.length() > 80" in source
    assert "replaceAll(/[^A-Za-z0-9._]+/, '-')" in source
    longest = "0" * 12 + "-" + "a" * 80 + "-" + "9" * 10
    assert contract.JOB_ID_RE.fullmatch(longest)


def test_the_experiment_name_rule_is_the_job_id_rule():
    source = (LIBRARY / "src" / "mlci" / "PlanCheck.groovy").read_text()
    [pattern] = re.findall(r"static final String EXPERIMENT = /(.+?)/  //", source)
    assert pattern == contract.JOB_ID_PATTERN


def test_the_ref_rule_matches_mlci_contract():
    source = (LIBRARY / "src" / "mlci" / "PlanCheck.groovy").read_text()
    [pattern] = re.findall(r"static final String REF = /(.+?)/  //", source)
    assert pattern.replace("\\/", "/") == contract.REF_PATTERN
    assert "!value.startsWith('-')" in source


def test_the_promote_and_deploy_rules_match_mlci():
    source = (LIBRARY / "src" / "mlci" / "EnvCheck.groovy").read_text()

    def rule(name: str) -> str:
        [pattern] = re.findall(rf"static final String {name} = /(.+?)/  //", source)
        return pattern

    assert rule("NAME") == contract.PROJECT_PATTERN and f"^{rule('NAME')}\\Z" == NAME_RE
    assert f"^{rule('WHO')}\\Z" == WHO_RE and f"^{rule('USER')}\\Z" == POSIX_USER_RE
    # the model version rule, bounded: every version the library takes is one mlci takes
    assert VERSION_PATTERN == r"^v[1-9][0-9]*$" and rule("VERSION") == r"v[1-9][0-9]{0,17}"
    assert "MLCI_PROMOTE_APPROVED=" in (LIBRARY / "vars" / "mlciPromote.groovy").read_text()
    assert APPROVED_ENV == "MLCI_PROMOTE_APPROVED"
