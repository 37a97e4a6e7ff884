"""The real shop as a subprocess (`python -m burts_books serve`), for browser, multi-process and benchmark runs.

Each process runs on a free loopback port with an embedded store in its own
data dir. The environment's shop settings are dropped, so a process never
touches a shared database by accident; flags say everything it needs.
"""

from __future__ import annotations

import functools
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

START_TIMEOUT = 20.0
# Flags for a shop under load from one address (and, for adds, one cart): without them the abuse
# limits would answer most adds with 429. For writers and benchmarks that measure something else.
LIFTED_LIMITS = ("--cart-adds-per-minute=100000", "--cart-adds-per-address-per-minute=100000",
                 "--anonymous-adds-per-address=100000", "--max-copies-per-cart=10000")


class ShopDidNotStart(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process `pid` so far (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_until_serving(process: subprocess.Popen, answers: Callable[[], bool], timeout: float) -> bool:
    """Check `answers()` until it is true (True), or until `process` exits or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while not answers():
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def stop_process(process: subprocess.Popen | None, timeout: float = 10) -> None:
    """Terminate gracefully (servers save state on SIGTERM), killing only one that hangs."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def shop_environment() -> dict:
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith("BURTS_") and k not in ("MONGODB_URL", "REDIS_URL")
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(*args: str, data_dir: Path | None = None, stdin: str = "") -> subprocess.CompletedProcess:
    """Run `burts-books ARGS...` to completion, as an operator would; the caller checks the result.

    With `data_dir`, the command runs there with `--data-dir=DATA_DIR` added. `stdin` is what is typed
    (say, a password and a newline).
    """
    flags = [f"--data-dir={data_dir}"] if data_dir is not None else []
    return subprocess.run(
        [*SHOP_COMMAND, *args, *flags],
        input=stdin, capture_output=True, text=True, env=shop_environment(), cwd=data_dir, timeout=60,
    )


SHOP_COMMAND = (sys.executable, "-m", "burts_books")


class ShopProcess:
    """`command serve` on a free port; `command` is this checkout's shop unless given (an installed one).

    `with ShopProcess(data_dir) as shop:` serves inside the block and stops at its end.
    """

    def __init__(self, data_dir: Path, *flags: str, port: int | None = None,
                 command: tuple[str, ...] = SHOP_COMMAND, open_files: tuple[int, int] | None = None):
        """`open_files`: the (soft, hard) open-file limit the process starts with, instead of ours."""
        self.command = command
        self.open_files = open_files
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.flags = flags
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.data_dir / "shop.log"
        self.process: subprocess.Popen | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> ShopProcess:
        """Start serving and return once the port answers; ShopDidNotStart (with the log) otherwise."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*self.command, "serve", f"--port={self.port}",
                 "--address=127.0.0.1", f"--data-dir={self.data_dir}", *self.flags],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.data_dir, env=shop_environment(), preexec_fn=self._child_setup(),
            )
        if not wait_until_serving(self.process, lambda: port_answers(self.port), START_TIMEOUT):
            self.stop()
            raise ShopDidNotStart(
                f"the shop did not start on port {self.port} "
                f"(exit status {self.process.returncode}); its log:\n{self.log()}"
            )
        return self

    def _child_setup(self) -> Callable[[], None] | None:
        """What the child runs between fork and exec: set its open-file limit, if one was given."""
        if self.open_files is None:
            return None
        return functools.partial(resource.setrlimit, resource.RLIMIT_NOFILE, self.open_files)

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self) -> ShopProcess:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def restart(self) -> None:
        self.stop()
        self.start()
