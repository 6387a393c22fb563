"""summary.json against its published JSON Schema (gpuaccept/data/summary.schema.json), with jsonschema.

Every record the suite writes validates: accepted, failed, incomplete, a fleet host's; a failed or not
evaluated requirement carries an action of the fixed vocabulary, and the record names the suite's code
and the profile it was judged by, by digest.
"""

from __future__ import annotations

import json
import shutil
from importlib import resources

import pytest

from gpuaccept import actions, suite_identity
from gpuaccept.catalogue import CATALOGUE
from tests.conftest import HOSTS
from tests.extras import require


def schema() -> dict:
    return json.loads(resources.files("gpuaccept.data").joinpath("summary.schema.json").read_text())


def check(record: dict) -> None:
    jsonschema = require("schema")
    validator = jsonschema.Draft202012Validator(schema())
    problems = sorted(validator.iter_errors(record), key=lambda e: list(e.path))
    assert not problems, [f"{list(e.path)}: {e.message}" for e in problems[:5]]


def test_the_schema_is_valid_and_names_every_action_and_outcome():
    jsonschema = require("schema")
    jsonschema.Draft202012Validator.check_schema(schema())
    assert tuple(schema()["$defs"]["action"]["enum"]) == actions.ACTIONS
    assert set(actions.ON_FAILURE) == set(CATALOGUE) and set(actions.ON_FAILURE.values()) <= set(actions.ACTIONS)


def test_every_record_a_run_writes_validates(run_suite, tmp_path):
    from tests.test_host_folder import _as_fleet_host

    incomplete = tmp_path / "no-lsmod"
    shutil.copytree(HOSTS / "dual-p40", incomplete)
    (incomplete / "lsmod.txt").unlink()
    records = {}
    for name, source in (("healthy", HOSTS / "dual-p40"), ("narrowed", HOSTS / "dual-p40-x8-link"),
                         ("incomplete", incomplete)):
        run = run_suite("--replay", str(source))
        records[name] = json.loads((run.run_dir / "summary.json").read_text())
        check(records[name])
    _, _, folder = _as_fleet_host(run.run_dir, tmp_path)
    check(json.loads((folder / "summary.json").read_text()))
    assert records["narrowed"]["requirements"]["PCIE-WIDTH"]["action"] == "reseat"
    assert records["incomplete"]["requirements"]["DRV-NOUVEAU"]["action"] == "investigate"
    assert not [rid for rid, r in records["healthy"]["requirements"].items() if "action" in r]
    run = records["healthy"]["run"]
    assert run["suite"] == suite_identity.suite() and len(run["profile"]["sha256"]) == 64
    assert records["healthy"]["schema"] == "gpuaccept.summary/2"


def test_the_schema_refuses_a_failure_without_its_action_and_an_unknown_verdict(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"), "-m", "quick")
    record = json.loads((run.run_dir / "summary.json").read_text())
    jsonschema = require("schema")
    validator = jsonschema.Draft202012Validator(schema())
    del record["requirements"]["PCIE-WIDTH"]["action"]
    assert not validator.is_valid(record)
    record["requirements"]["PCIE-WIDTH"]["action"] = "pray"
    assert not validator.is_valid(record)
    record["requirements"]["PCIE-WIDTH"]["action"] = "reseat"
    assert validator.is_valid(record)
    record["verdict"] = "MOSTLY ACCEPTED"
    assert not validator.is_valid(record)


@pytest.mark.parametrize(("outcome", "messages", "expected"), [
    ("fail", ["x"], "reseat"), ("not_evaluated", ["not finished: the run was interrupted during this test"], "rerun"),
    ("not_evaluated", ["lsmod.txt missing", "not finished: x"], "investigate"), ("error", ["boom"], "investigate"),
    ("pass", [""], "none"),
    ("fail", ["host unreachable: ssh exited 255: Connection refused (ssh://h; fix the connection ...)"], "investigate"),
])
def test_the_action_follows_the_outcome(outcome, messages, expected):
    assert actions.action("PCIE-WIDTH", outcome, messages) == expected
    assert actions.action("GPU-RETIRED", "fail", ["host unreachable: x"]) == "investigate"  # never rma unseen


def test_the_code_digest_changes_with_the_code_and_the_profile_digest_with_a_limit(tmp_path, monkeypatch):
    from gpuaccept import profile

    base = profile.load("dual-p40")
    other = profile.load("dual-p40", overrides={"gpus": {"count": 3}})
    assert suite_identity.profile_digest(base) != suite_identity.profile_digest(other)
    assert suite_identity.profile_digest(base) == suite_identity.profile_digest(profile.load("dual-p40"))
    tree = tmp_path / "gpuaccept"
    shutil.copytree(suite_identity.__file__.rsplit("/", 1)[0], tree, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(suite_identity.gpuaccept, "__file__", str(tree / "__init__.py"))
    suite_identity.code_digest.cache_clear()
    try:
        first = suite_identity.code_digest()
        (tree / "checks" / "pcie.py").write_text((tree / "checks" / "pcie.py").read_text() + "\n# changed\n")
        suite_identity.code_digest.cache_clear()
        assert suite_identity.code_digest() != first
    finally:
        suite_identity.code_digest.cache_clear()
