# supervise: developer tasks (GNU make). `make demo` and `make test` are all a new user needs.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT := out
PORT ?= 8080
SCOPES := check,feedback,lists,bank
# Debian/Ubuntu packages for notices (WeasyPrint's Pango/HarfBuzz, CJK fonts), PDF checks (poppler) and
# browser rendering (Chromium), the Spark engine (Java 17) and the check service benchmark (wrk).
APT_PACKAGES := chromium fonts-noto-cjk poppler-utils libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 openjdk-17-jre-headless wrk

.PHONY: help venv install deps test lint format demo serve bench clean
.DEFAULT_GOAL := help

help:
	@echo "make demo    build a demo register in $(OUT)/demo.db (and $(OUT)/*.csv) and run the supervision stages"
	@echo "make serve   run the check service on $(OUT)/demo.db at http://127.0.0.1:$(PORT) (an app's key in $(OUT)/demo-app.json)"
	@echo "make test    run the test suite (REQUIRE_PG=1: PostgreSQL tests fail instead of skipping)"
	@echo "make lint    ruff (lint and format check) and mypy on the library"
	@echo "make format rewrite the code with ruff format and the safe ruff fixes"
	@echo "make venv    create $(VENV) and install the package with its test extras"
	@echo "make deps    install the system packages (root only): $(APT_PACKAGES)"
	@echo "make bench   run the benchmarks in bench/"
	@echo "make clean   remove $(OUT)/, caches and build files (keeps $(VENV))"

venv install: $(STAMP)

# Re-install when the package metadata changes; the stamp records the last install.
$(STAMP): setup.cfg pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,spark]'
	@touch $(STAMP)

deps:
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "make deps: not root, skipping apt-get; as root install: $(APT_PACKAGES)"; exit 0; fi; \
	missing=$$(for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "make deps: system packages already installed"; exit 0; fi; \
	echo "make deps: installing" $$missing; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing

# PYTEST_STATUS=FILE: also write pytest's own exit status there (make itself exits 2 on any failure).
test: $(STAMP)
	@status=0; $(PY) -m pytest -n 2 -q || status=$$?; \
	$(if $(PYTEST_STATUS),echo $$status > $(PYTEST_STATUS);) exit $$status

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

demo: $(STAMP)
	@mkdir -p $(OUT)
	@rm -f $(OUT)/demo.db $(OUT)/demo.db-wal $(OUT)/demo.db-shm $(OUT)/demo-app.json
	$(VENV)/bin/supervise --db sqlite:///$(OUT)/demo.db demo --out $(OUT)
	@$(PY) -m engine.console.shots --db sqlite:///$(OUT)/demo.db --out $(OUT)/console --policies $(OUT)/packs

# The check service on the demo database, with one app that may use every route: its key and secret are written
# once to $(OUT)/demo-app.json (mode 0600), as `supervise apps add --json` prints them. The demo's packs (an
# authority per city, out/packs) tell the console which authority each demo user acts for.
serve: $(STAMP)
	@test -f $(OUT)/demo.db || $(MAKE) demo
	@test -s $(OUT)/demo-app.json || (umask 077; $(VENV)/bin/supervise --db sqlite:///$(OUT)/demo.db apps add \
	  演示政务服务平台 --scopes $(SCOPES) --department 市行政审批局 --json > $(OUT)/demo-app.json.tmp && \
	  mv $(OUT)/demo-app.json.tmp $(OUT)/demo-app.json)
	@echo "App key and secret: $(OUT)/demo-app.json"
	SUPERVISE_POLICIES=$(OUT)/packs $(VENV)/bin/supervise --db sqlite:///$(OUT)/demo.db serve --port $(PORT)

# Every benchmark at a size that fits about 10 minutes together on a 2-core machine; each script's --entities (or
# --notices, --rows, --count) runs the issue's full size, e.g. bench/cycle_bench.py --entities 1000000.
BENCH_RUNS := \
  "import_bench.py --entities 100000 --records 200000" \
  "cycle_bench.py --entities 100000" \
  "plan_bench.py --entities 100000 --inspectors 200" \
  "lists_bench.py --entities 10000" \
  "notices_bench.py --notices 10000" \
  "notices_bench.py --notices 200 --format pdf --pdf-engine both" \
  "match_bench.py --entities 20000 --rows 20000" \
  "serve_bench.py --entities 5000 --count 2000 --batches 50" \
  "spark_bench.py --entities 20000"

bench: $(STAMP)
	@set -e; for run in $(BENCH_RUNS); do echo "== bench/$$run"; $(PY) bench/$$run; done

clean:
	rm -rf $(OUT) build dist *.egg-info .pytest_cache .hypothesis bench/out
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
