"""The GitHub Actions workflow: valid against GitHub's workflow schema (vendored by check-jsonschema,
so offline), and it runs the suite on the embedded store and on a MongoDB replica set with Redis."""

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parent.parent / ".github" / "workflows" / "ci.yml"
CHECK_JSONSCHEMA = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")


def test_the_workflow_is_valid_against_the_github_workflow_schema():
    result = subprocess.run([CHECK_JSONSCHEMA, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflow_runs_make_test_on_both_stores_with_a_three_member_replica_set_and_redis():
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["test"]
    assert job["strategy"]["matrix"]["store"] == ["embedded", "mongodb"]
    assert job["services"]["redis"]["image"].startswith("redis:")
    steps = {step.get("name"): step for step in job["steps"]}
    replica_set = steps["MongoDB replica set (3 members)"]
    assert replica_set["if"] == "matrix.store == 'mongodb'"
    assert replica_set["run"].count("--replSet rs0") == 1 and "for port in 27017 27018 27019" in replica_set["run"]
    assert "MONGODB_URL=mongodb://127.0.0.1:27017,127.0.0.1:27018,127.0.0.1:27019/?replicaSet=rs0" in replica_set["run"]
    assert "REDIS_URL=redis://127.0.0.1:6380/0" in replica_set["run"]
    assert steps["make test"]["run"] == "make test"
