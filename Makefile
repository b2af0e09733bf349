# Kino developer entry points (GNU make).
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LINT_PATHS := src tests $(wildcard bench) $(wildcard scripts)

.PHONY: setup lint test demo bench clean

$(STAMP): pyproject.toml tests/node/package-lock.json
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -e '.[dev,eval,serve]'
	# the studio's browser tests drive Debian's Chromium (Playwright never downloads a browser); elsewhere they skip
	command -v chromium >/dev/null 2>&1 || ( command -v apt-get >/dev/null 2>&1 && { DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }; } ) || echo 'chromium not installed: the studio browser tests will skip'
	if command -v npm >/dev/null 2>&1; then cd tests/node && npm ci --no-audit --no-fund; else echo 'npm not found: skipping tests/node (the Node SDK test will skip)'; fi
	touch $@

setup: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)

test: lint
	$(PY) -m pytest -n 2 tests

demo: $(STAMP)
	$(VENV)/bin/kino demo

bench: $(STAMP)
	$(PY) bench/run.py
	$(PY) bench/serve.py --no-peak

clean:
	rm -rf build dist src/*.egg-info .pytest_cache .ruff_cache out runs
	find src tests -name __pycache__ -type d -prune -exec rm -rf {} +
