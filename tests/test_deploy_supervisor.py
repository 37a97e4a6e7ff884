"""deploy/supervisord.conf for real: Debian's supervisord starts a shop process with the open-file limits it sets.

The test rewrites only what differs on a test machine (the command, port,
folders, user and number of processes); the `[supervisord]` section is the
file as deployed.
"""

import os
import re
import resource
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.constants import COOKIE_SECRET
from tests.shop_process import SHOP_COMMAND, free_port, port_answers, stop_process, wait_until_serving

SUPERVISORD = shutil.which("supervisord") or "/usr/bin/supervisord"
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
STARTING_SOFT_LIMIT = 1024  # what systemd gives a service whose unit does not say LimitNOFILE


def program_config(port: int, folder: Path, minfds: int) -> str:
    text = (DEPLOY / "supervisord.conf").read_text()
    replacements = [
        (r"numprocs = \d+", "numprocs = 1"),
        (r"/srv/burts-books/\.venv/bin/burts-books", " ".join(SHOP_COMMAND)),
        (r"--port=800%\(process_num\)d", f"--port={port}"),
        (r"directory = /srv/burts-books", f"directory = {folder}"),
        (r"user = burts\n", ""),
        (r"/var/log/burts-books/", f"{folder}/"),
        (r"minfds = \d+", f"minfds = {minfds}"),
    ]
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement.replace("\\", "\\\\"), text)
        assert count == 1, f"deploy/supervisord.conf no longer has {pattern!r}"
    return text


def test_supervisord_with_the_deployed_config_starts_the_shop_with_a_high_open_file_limit(tmp_path):
    if not Path(SUPERVISORD).exists():
        pytest.fail("supervisord is missing: `make test` installs it (apt-get install supervisor)", pytrace=False)
    deployed = int(re.search(r"minfds = (\d+)", (DEPLOY / "supervisord.conf").read_text()).group(1))
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    # Raising a hard limit takes root (and CAP_SYS_RESOURCE); under a lower one, the test asks for that.
    minfds = min(deployed, hard)
    port = free_port()
    (tmp_path / "burts-books.conf").write_text(program_config(port, tmp_path, minfds))
    (tmp_path / "supervisord.conf").write_text(
        f"[supervisord]\nnodaemon = true\nlogfile = {tmp_path}/supervisord.log\npidfile = {tmp_path}/supervisord.pid\n"
        f"childlogdir = {tmp_path}\n[include]\nfiles = {tmp_path}/burts-books.conf\n"
    )
    environment = {"PATH": os.environ["PATH"], "MONGODB_URL": "", "REDIS_URL": "", "BURTS_COOKIE_SECRET": COOKIE_SECRET,
                   "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "PYTHONUNBUFFERED": "1"}
    supervisord = subprocess.Popen(
        [SUPERVISORD, "-c", str(tmp_path / "supervisord.conf")], env=environment, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (STARTING_SOFT_LIMIT, hard)),
    )
    try:
        assert wait_until_serving(supervisord, lambda: port_answers(port), 20), (
            (tmp_path / "supervisord.log").read_text())
        shop_log = (tmp_path / "burts-books-1.log").read_text()
    finally:
        stop_process(supervisord)
    # The shop inherits minfds from supervisord (not the 1024 it started with), then raises it to the hard limit.
    expected = f"open-file limit: {hard}" if minfds == hard else f"open-file limit raised from {minfds} to {hard}"
    assert expected in shop_log, shop_log
