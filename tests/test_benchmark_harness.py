"""`make bench` measures a round again when the host took a core's time away during it, and only while
the run has time for it: the figures compare servers, not what other machines did to this one."""

import pytest

from tests.benchmarks import harness


@pytest.fixture
def host(monkeypatch):
    """The host's steal, in seconds, set by the test; no waiting for a quiet machine."""
    stolen = {"seconds": 0.0}
    monkeypatch.setattr(harness, "stolen_seconds", lambda: [0.0, stolen["seconds"]])
    monkeypatch.setattr(harness, "machine_quiet", lambda: None)
    return stolen


def counting_run(host, disturbed_runs: set[int]):
    """A run whose figure is its place among all runs (1, 2, ...); the host takes a second of a core
    during the runs numbered in `disturbed_runs`."""
    done = []

    def run(number):
        done.append(number)
        if len(done) in disturbed_runs:
            host["seconds"] += 1.0
        return len(done)

    return run, done


def test_a_round_the_host_disturbed_is_measured_again(host, monkeypatch):
    monkeypatch.setattr(harness, "MEASURED_AGAIN", harness.MeasuredAgain(60.0))
    run, done = counting_run(host, {2})

    figures = harness.in_turn(2, {"page": run})

    assert done == [0, 1, 1]  # the second round twice
    assert figures == {"page": [1, 3]}  # its disturbed figure dropped
    assert harness.MEASURED_AGAIN.rounds == 1


def test_every_run_of_a_disturbed_round_is_measured_again_so_ratios_stay_seconds_apart(host, monkeypatch):
    monkeypatch.setattr(harness, "MEASURED_AGAIN", harness.MeasuredAgain(60.0))
    hello, _ = counting_run(host, set())
    page, _ = counting_run(host, {1})

    figures = harness.in_turn(1, {"hello": hello, "page": page})

    assert figures == {"hello": [2], "page": [2]}


def test_a_disturbed_round_counts_once_the_time_for_measuring_again_is_spent(host, monkeypatch):
    monkeypatch.setattr(harness, "MEASURED_AGAIN", harness.MeasuredAgain(0.0))
    run, done = counting_run(host, {1, 2})

    assert harness.in_turn(2, {"page": run}) == {"page": [1, 2]}
    assert done == [0, 1]
    assert harness.MEASURED_AGAIN.rounds == 0


def test_rows_that_may_not_be_measured_again_keep_their_round(host, monkeypatch):
    monkeypatch.setattr(harness, "MEASURED_AGAIN", harness.MeasuredAgain(60.0))
    run, done = counting_run(host, {1})

    assert harness.in_turn(1, {"first visits": run}, again=False) == {"first visits": [1]}
    assert done == [0]


def test_a_run_the_host_left_alone_is_not_disturbed(host):
    with harness.HostWatch() as watch:
        pass
    assert not watch.disturbed()
    with watch:
        host["seconds"] += 1.0
    assert watch.disturbed()
