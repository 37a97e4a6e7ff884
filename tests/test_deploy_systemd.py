"""The shipped systemd unit: accepted by systemd itself, and it gives the shop the open files it needs."""

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent.parent / "deploy" / "burts-books@.service"
ANALYZE = shutil.which("systemd-analyze")


def service_section() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser["Service"]


def test_the_unit_raises_the_open_file_limit_and_restarts_on_failure():
    service = service_section()
    assert int(service["LimitNOFILE"]) >= 65536
    assert service["Restart"] == "on-failure" and service["KillSignal"] == "SIGTERM"
    assert "--port=%i" in service["ExecStart"] and "--xheaders" in service["ExecStart"]
    assert service["ProtectSystem"] == "strict" and service["User"] != "root"


def test_systemd_accepts_the_unit(tmp_path):
    if ANALYZE is None:
        pytest.fail("systemd-analyze is missing: `apt-get install systemd` (Debian's)", pytrace=False)
    # An instance of the template, with the paths it names made to exist, as on a deployed host.
    root = tmp_path / "srv"
    text = UNIT.read_text().replace("/srv/burts-books", str(root)).replace(
        "/etc/burts-books/environment", str(tmp_path / "environment")).replace("User=burts", "User=root").replace(
        "Group=burts", "Group=root")
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / "var").mkdir()
    executable = root / ".venv" / "bin" / "burts-books"
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    (tmp_path / "environment").write_text("BURTS_COOKIE_SECRET=x\n")
    unit = tmp_path / "burts-books@8001.service"
    unit.write_text(text)
    result = subprocess.run([ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    problems = [line for line in result.stderr.splitlines() if str(unit.name) in line or "burts-books" in line]
    assert result.returncode == 0 and not problems, result.stderr
