# `make run` serves the shop on the embedded default; `make test` passes the whole suite.
# Both set up what they need first, on a fresh machine too.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSTEM_PACKAGES := redis-server nginx supervisor chromium systemd wrk npm

.PHONY: run test lint bench system-packages clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip 'setuptools<82'
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/burts-books serve

# Debian packages the tests drive for real; installed only when missing.
system-packages:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	command -v supervisord >/dev/null || missing="$$missing supervisor"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Lint and types first: a finding fails the run like a failing test.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: $(STAMP) system-packages lint
	$(PY) -m pytest $(PYTEST_ARGS)

# The speed issue's goals side by side with bare Tornado and aiohttp, one table (README, Performance).
bench: $(STAMP) system-packages
	$(PY) -m tests.benchmarks.bench_speed

clean:
	rm -rf $(VENV) *.egg-info
