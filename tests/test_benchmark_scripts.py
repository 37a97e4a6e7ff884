"""The benchmark scripts the README names still load: nothing else in the suite imports most of them,
and one (bench_store) had stopped importing for two days before anyone ran it."""

import importlib
from pathlib import Path

import pytest

SCRIPTS = sorted(path.stem for path in (Path(__file__).parent / "benchmarks").glob("*.py") if path.stem != "__init__")


def test_the_benchmarks_are_found():
    assert {"bench_page_speed", "bench_store", "bench_store_size", "reference_answer"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_benchmark_script_imports(name):
    module = importlib.import_module(f"tests.benchmarks.{name}")
    assert module.__doc__, f"{name} says what it measures"
