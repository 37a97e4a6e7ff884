"""Scale-out's one-process figures are what one process serves: a lone server that nginx or wrk kept
waiting is measured again (while the run has time for it), so neither side's gain reads higher
than two cores can give."""

import pytest

from tests.benchmarks import bench_scale_out, harness


def runs_busy(monkeypatch, shares: list[float]):
    """`_measured` gives runs whose lone server filled each of `shares` of its core, in turn."""
    done = []

    def measured(url, path, servers, seconds):
        share = shares[len(done)]
        done.append(share)
        return bench_scale_out.SiteRun(rps=1000 * share, server_us=1000, rest_us=100, busy=0.9)

    monkeypatch.setattr(bench_scale_out, "_measured", measured)
    return done


@pytest.mark.parametrize("budget, kept, done", [
    (60.0, 0.99, [0.78, 0.5, 0.99]),  # measured until its server fills its core
    (4.0, 0.5, [0.78, 0.5]),  # measured again only while the run has time
])
def test_a_lone_server_kept_waiting_is_measured_again(monkeypatch, budget, kept, done):
    monkeypatch.setattr(bench_scale_out, "MEASURED_AGAIN", harness.MeasuredAgain(budget))
    runs = runs_busy(monkeypatch, [0.78, 0.5, 0.99, 0.99])

    run = bench_scale_out.site_run("bare 1", "http://nginx", "/page", [1], 4.0, 0)

    assert run.server_share == pytest.approx(kept)
    assert runs == done


def test_two_servers_and_a_lone_server_that_filled_its_core_are_measured_once(monkeypatch):
    monkeypatch.setattr(bench_scale_out, "MEASURED_AGAIN", harness.MeasuredAgain(60.0))
    runs = runs_busy(monkeypatch, [0.7, 0.95, 0.5])

    two = bench_scale_out.site_run("bare 2", "http://nginx", "/page", [1, 2], 4.0, 0)
    one = bench_scale_out.site_run("bare 1", "http://nginx", "/page", [1], 4.0, 0)
    assert (two.server_share, one.server_share) == pytest.approx((0.7, 0.95))
    assert runs == [0.7, 0.95]
    assert bench_scale_out.MEASURED_AGAIN.rounds == 0
