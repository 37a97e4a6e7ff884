"""A throwaway redis-server for tests.

``RedisServer`` can be stopped and started again on the same port, so tests
can simulate Redis going away and coming back, or paused (SIGSTOP) and
resumed, to simulate one that hangs. Import the ``redis_server`` fixture from
conftest.py (or a test module) to get one already running.
"""

import os
import signal
import socket
import ssl
import subprocess

import pytest

from tests.shop_process import free_port, stop_process, wait_until_serving

REDIS_SERVER = "/usr/bin/redis-server"


class RedisServer:
    def __init__(self, directory, port: int | None = None,
                 executable: str = REDIS_SERVER, password: str | None = None, tls: bool = False) -> None:
        """With `password`, clients must AUTH (Redis's `requirepass`); with `tls`, the server speaks
        TLS only, with a certificate of its own for 127.0.0.1. `url` carries what a client needs."""
        self.directory = str(directory)
        self.port = port or free_port()
        self.password = password
        self.certificate = os.path.join(self.directory, f"redis-{self.port}.pem") if tls else None
        auth = f":{password}@" if password else ""
        self.url = (f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={self.certificate}" if tls
                    else f"redis://{auth}127.0.0.1:{self.port}/0")
        self.executable = executable
        self._process: subprocess.Popen | None = None

    def start(self, timeout: float = 5.0) -> None:
        if self._process is not None:
            return
        log_path = os.path.join(self.directory, f"redis-{self.port}.log")
        with open(log_path, "ab") as log_file:
            self._process = subprocess.Popen(
                [self.executable, *self._listening(),
                 "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--daemonize", "no", "--dir", self.directory,
                 *(["--requirepass", self.password] if self.password else [])],
                stdout=log_file, stderr=subprocess.STDOUT,
            )
        if not wait_until_serving(self._process, self._answers_ping, timeout):
            self.stop()
            with open(log_path, errors="replace") as log_file:
                output = log_file.read()[-2000:]
            raise RuntimeError(
                f"redis-server on port {self.port} did not start:\n{output}")

    def stop(self) -> None:
        if self._process is not None:
            self.resume()  # a paused server would not act on SIGTERM
        stop_process(self._process, timeout=5)
        self._process = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open and nothing answers, as when Redis hangs."""
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._process.send_signal(signal.SIGCONT)

    def _listening(self) -> list[str]:
        if self.certificate is None:
            return ["--port", str(self.port)]
        if not os.path.exists(self.certificate):
            key = self.certificate.replace(".pem", ".key")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", key, "-out", self.certificate], check=True, capture_output=True)
        return ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", self.certificate,
                "--tls-key-file", self.certificate.replace(".pem", ".key"), "--tls-auth-clients", "no"]

    def _answers_ping(self) -> bool:
        # Raw RESP keeps this helper independent of the client under test.
        try:
            with self._connect() as sock:
                if self.password:
                    sock.sendall(f"AUTH {self.password}\r\n".encode())
                    if not sock.recv(16).startswith(b"+OK"):
                        return False
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
        if self.certificate is None:
            return sock
        return ssl.create_default_context(cafile=self.certificate).wrap_socket(sock, server_hostname="127.0.0.1")


@pytest.fixture
def redis_server(tmp_path):
    """A running redis-server on a free loopback port, stopped afterwards."""
    if not (os.path.isfile(REDIS_SERVER) and os.access(REDIS_SERVER, os.X_OK)):
        pytest.fail(
            f"{REDIS_SERVER} not found: these tests need a real Redis "
            "(apt-get install redis-server)", pytrace=False)
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
