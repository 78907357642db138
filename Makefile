# Two commands do all the set-up on a fresh machine:
#   make demo   - create the venv, install the pinned stack, run the nightly DAG on data_samples/
#   make test   - install what the tests need (incl. openssh-server) and run the test suite
SHELL := /bin/bash
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DATE ?= 2026-11-26
ROWS ?= 1000000
WORKERS ?= 1
STEPS ?=

export RECON_HOME ?= $(CURDIR)/var
export RECON_RULES ?= $(CURDIR)/rules
export AIRFLOW_HOME ?= $(RECON_HOME)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export AIRFLOW__LOGGING__LOGGING_LEVEL ?= WARNING
export GX_ANALYTICS_ENABLED := False
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo test bench lint install install-dev clean airflow-db

$(VENV)/.runtime: requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/python -m pip install -q -r requirements-dev.txt -c constraints.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

airflow-db: install
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (cat $(AIRFLOW_HOME)/db-migrate.log; exit 1)
	$(BIN)/airflow pools set recon_workspace 1 "one writing task per workspace at a time (register, normalise, record, match, lifecycle, clearing, publish)" > /dev/null

demo: airflow-db
	$(BIN)/airflow dags test recon_nightly --conf '{"business_date": "$(DATE)", "mode": "nightly"}' \
		> $(RECON_HOME)/dags-test.log 2>&1 || (tail -n 80 $(RECON_HOME)/dags-test.log; exit 1)
	@echo "Airflow run of recon_nightly for $(DATE) succeeded (log: $(RECON_HOME)/dags-test.log)"
	$(BIN)/recon summary --date $(DATE)

test: install-dev
	bash .ci/ensure-system-packages
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile

bench: install-dev
	$(BIN)/python -m bench.run --rows $(ROWS) --workers $(WORKERS) $(if $(STEPS),--steps) $(if $(SHARD_ORDERS),--shard-orders $(SHARD_ORDERS)) $(if $(PARTITIONS),--partitions $(PARTITIONS))

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/mypy pipelines dags tests bench samplegen

clean:
	rm -rf var

# The compose deployment (docker-compose.yaml): Airflow with the CeleryExecutor, PostgreSQL and Redis, the UI on
# http://localhost:8080. AIRFLOW_UID: the containers run as you, so the workspace var/ stays yours.
.PHONY: up down
up:
	mkdir -p var/compose/logs
	AIRFLOW_UID=$${AIRFLOW_UID:-$$(id -u)} docker compose up -d --build

down:
	docker compose down

# PNG screenshots of the sample day's report.html (DATE) in headless chromium, into SHOTS (default var/report-shots):
# the first screen at 1366x768 and 1920x1080, and the whole page at both widths (SHOT_PAGE_HEIGHT px tall).
SHOTS ?= $(RECON_HOME)/report-shots
SHOT_PAGE_HEIGHT ?= 7000
CHROMIUM_SHOT = chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
	--virtual-time-budget=3000
.PHONY: report-shot
report-shot: install
	bash .ci/ensure-system-packages
	rm -rf $(SHOTS)/home && mkdir -p $(SHOTS)
	rc=0; $(BIN)/recon --home $(SHOTS)/home run --date $(DATE) > $(SHOTS)/run.log 2>&1 || rc=$$?; \
		[ $$rc = 0 ] || [ $$rc = 3 ] || (tail -n 40 $(SHOTS)/run.log; exit 1)
	page=$$(realpath $(SHOTS)/home/outputs/$(DATE))/report.html; \
	for size in 1366x768 1920x1080 1366x$(SHOT_PAGE_HEIGHT) 1920x$(SHOT_PAGE_HEIGHT); do \
		name=report-$$size; [ "$${size#*x}" = "$(SHOT_PAGE_HEIGHT)" ] && name=report-$${size%x*}-page; \
		$(CHROMIUM_SHOT) --window-size=$${size/x/,} --screenshot=$(SHOTS)/$$name.png "file://$$page" 2>/dev/null || exit 1; \
	done
	@ls -1 $(SHOTS)/*.png
