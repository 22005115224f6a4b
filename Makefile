# Depot: `make run` serves the demo store, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
UPDATES_PORT ?= 8001

.PHONY: run test lint format worker beat run-updates migrate seed clean bench-updates

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): $(PY) requirements/base.txt requirements/dev.txt
	$(PIP) install --quiet --disable-pip-version-check -r requirements/dev.txt
	@touch $(STAMP)

# mysqlclient compiles against the MariaDB client headers; without them the suite runs on
# the embedded default (under CI=true, config/services.py turns that into an error).
$(VENV)/.mysqlclient: $(STAMP) requirements/mysql.txt
	@if $(PIP) install --quiet --disable-pip-version-check -r requirements/mysql.txt >$(VENV)/mysqlclient.log 2>&1; then \
		touch $@; \
	else \
		echo "depot: mysqlclient did not build (apt-get install libmariadb-dev pkg-config); see $(VENV)/mysqlclient.log"; \
	fi

run: $(STAMP)
	$(PY) manage.py migrate --no-input -v 0
	$(PY) manage.py seed_demo --base-url http://$(HOST):$(PORT)
	$(PY) manage.py runserver $(HOST):$(PORT)

test: $(STAMP)
	@$(MAKE) --no-print-directory $(VENV)/.mysqlclient
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrate: $(STAMP)
	$(PY) manage.py migrate

seed: $(STAMP)
	$(PY) manage.py seed_demo

worker: $(STAMP)
	$(VENV)/bin/celery -A config worker -l info

beat: $(STAMP)
	$(VENV)/bin/celery -A config beat -l info

# The updates role under gunicorn, on `make run`'s database and the local Redis.
run-updates: $(STAMP)
	. deploy/env/updates-local.sh && DJANGO_SETTINGS_MODULE=config.settings.updates \
		GUNICORN_BIND=$(HOST):$(UPDATES_PORT) GUNICORN_WORKERS=$${GUNICORN_WORKERS:-2} \
		$(VENV)/bin/gunicorn config.wsgi -c deploy/gunicorn/updates.conf.py

# The update API under gunicorn and granian on MariaDB (database depot_bench, recreated) and
# Redis (db 5, flushed), driven by wrk; prints figures, asserts none. bench/updates/README.md.
bench-updates: $(STAMP)
	@$(MAKE) --no-print-directory $(VENV)/.mysqlclient
	$(PIP) install --quiet --disable-pip-version-check -r requirements/bench.txt
	@command -v wrk >/dev/null || { echo "depot: bench-updates needs wrk (apt-get install wrk)"; exit 1; }
	$(PY) bench/updates/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .test-media .test-db.sqlite3 .pytest_cache .mypy_cache .ruff_cache
