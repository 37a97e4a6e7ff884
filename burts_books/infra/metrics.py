"""Prometheus metrics of one process, served at /metrics.

Each process has a registry of its own (nginx never lets Prometheus at it:
scrape each process on its own port). Requests are counted by route, the
name of the URL pattern that served them, never the raw path, so a crawler
asking for a million paths makes no more series than the route table has;
and by method, any the shop does not answer counted as "other", since a
client may send any word there (Tornado answers it 405, and nginx passes it).
Everything else is read at scrape time from counts the services already
keep (`watch`), so nothing but the metrics knows Prometheus.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds; a long poll is held up to 25 s, so the top buckets see those.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
OTHER_METHOD = "other"


class _Readings(Collector):
    """Counters and gauges whose values are read from the process when scraped."""

    def __init__(self) -> None:
        self.readings: list[tuple[type, str, str, Callable[[], float]]] = []

    def collect(self) -> Iterator[Metric]:
        for family, name, help, read in self.readings:
            metric = family(name, help)
            metric.add_metric([], read())
            yield metric


class ShopMetrics:
    def __init__(self, methods: Iterable[str]) -> None:
        """`methods`: the HTTP methods the shop answers, each labelled as itself."""
        self.methods = frozenset(methods)
        self.registry = CollectorRegistry()
        self.requests = Counter("burts_books_http_requests", "HTTP requests answered, by route and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("burts_books_http_request_duration_seconds",
                                 "time from a request's arrival to its answer, by route", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self._readings = _Readings()
        self.registry.register(self._readings)
        # The series of each (route, method, status): labels() validates and locks on every call,
        # and every answered request observes one. Bounded by the route table and methods, as the series are.
        self._series: dict[tuple[str, str, int], tuple] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        if method not in self.methods:
            method = OTHER_METHOD
        key = (route, method, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (self.requests.labels(route, method, str(status)),
                                          self.latency.labels(route))
        series[0].inc()
        series[1].observe(seconds)

    def counter(self, name: str, help: str, read: Callable[[], float]) -> None:
        """A counter that only goes up, whose total `read()` gives (`_total` is added to the name)."""
        self._readings.readings.append((CounterMetricFamily, name, help, read))

    def gauge(self, name: str, help: str, read: Callable[[], float]) -> None:
        self._readings.readings.append((GaugeMetricFamily, name, help, read))

    def text(self) -> bytes:
        return generate_latest(self.registry)
