"""/healthz (the process answers), /readyz (it can serve: database and Redis answer, not shutting down), /metrics.

Load balancers and process managers ask these, not people: JSON, never cached,
no session. nginx keeps /metrics off the public site (deploy/nginx.conf).
"""

from ..infra import health, metrics
from .base import JSON_POLICY, NotKept, set_security_headers


class ProbeHandler(NotKept):
    def set_default_headers(self) -> None:
        set_security_headers(self, JSON_POLICY, document=False)
        super().set_default_headers()

    def answer(self, status: int, body: dict) -> None:
        self.set_status(status)
        self.finish(body)  # a dict is sent as JSON


class HealthHandler(ProbeHandler):
    """GET /healthz: 200 while the process's event loop runs; restart it when this stops answering."""

    def get(self):
        self.answer(200, {"status": "alive"})


class ReadyHandler(ProbeHandler):
    """GET /readyz: 200 when this process can serve; 503 naming what fails, or while it shuts down."""

    async def get(self):
        if self.application.draining:  # type: ignore[attr-defined]
            self.answer(503, {"status": "draining", "failing": []})
            return
        services = self.settings["services"]
        failing = await health.failing(services.db, services.bus)
        self.answer(503 if failing else 200, {"status": "not ready" if failing else "ready", "failing": failing})


class MetricsHandler(ProbeHandler):
    """GET /metrics: this process's metrics in Prometheus's text format."""

    def get(self):
        self.set_header("Content-Type", metrics.CONTENT_TYPE)
        self.finish(self.settings["metrics"].text())
