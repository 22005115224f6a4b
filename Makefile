# Depot: `make run` serves the demo store, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
UPDATES_PORT ?= 8001

.PHONY: run test lint format worker beat run-updates migrate seed clean bench-updates bench-checkout
.PHONY: stack stack-down
.PHONY: load load-compare

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): $(PY) requirements/base.txt requirements/dev.txt
	$(PIP) install --quiet --disable-pip-version-check -r requirements/dev.txt
	@touch $(STAMP)

# mysqlclient compiles against the MariaDB client headers. As root with apt-get, `make test`
# installs them (libmariadb-dev, pkg-config) as it does Chromium; without them the suite runs on
# the embedded default (under CI=true, tests/backends.py turns that into an error).
$(VENV)/.mysqlclient: $(STAMP) requirements/mysql.txt
	@if ! pkg-config --exists libmariadb 2>/dev/null && ! pkg-config --exists mysqlclient 2>/dev/null \
		&& [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "depot: installing libmariadb-dev and pkg-config for mysqlclient (log: $(VENV)/mariadb-dev.log)"; \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q libmariadb-dev pkg-config || \
			{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libmariadb-dev pkg-config; }; \
		} >$(VENV)/mariadb-dev.log 2>&1 || true; \
	fi
	@if $(PIP) install --quiet --disable-pip-version-check -r requirements/mysql.txt >$(VENV)/mysqlclient.log 2>&1; then \
		touch $@; \
	else \
		echo "depot: mysqlclient did not build (as root: apt-get install libmariadb-dev pkg-config); see $(VENV)/mysqlclient.log"; \
	fi

# Everything that builds absolute links (receipts, refusals, package URLs in e-mails) is told
# where this server listens: `make run PORT=8400` links to port 8400.
run: $(STAMP)
	$(PY) manage.py migrate --no-input -v 0
	DEPOT_STORE_BASE_URL=http://$(HOST):$(PORT) $(PY) manage.py seed_demo --base-url http://$(HOST):$(PORT)
	DEPOT_STORE_BASE_URL=http://$(HOST):$(PORT) $(PY) manage.py runserver $(RUNSERVER_ARGS) $(HOST):$(PORT)

# tests/browser drives Debian's Chromium through Playwright's Python API (`playwright install`
# would download a browser build of its own, which this setup never does). Without the browser
# those tests are skipped and say why; under CI=true a missing browser fails `make test`.
CHROMIUM := $(or $(DEPOT_CHROMIUM),/usr/bin/chromium)
$(VENV)/.chromium: $(STAMP)
	@why=""; \
	if [ -x "$(CHROMIUM)" ]; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "depot: installing Debian's chromium for the browser tests (log: $(VENV)/chromium.log)"; \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium || \
			{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }; \
		} >$(VENV)/chromium.log 2>&1; \
		[ -x "$(CHROMIUM)" ] || why="apt-get install chromium left no $(CHROMIUM) (see $(VENV)/chromium.log)"; \
	else \
		why="no Chromium at $(CHROMIUM), and installing it (apt-get install chromium) needs root and apt-get"; \
	fi; \
	if [ -z "$$why" ]; then touch $@; \
	else case "$$(echo "$${CI:-}" | tr A-Z a-z)" in \
		1|true|yes) echo "depot: CI=true needs the browser tests, but $$why" >&2; exit 1;; \
		*) echo "depot: $$why: browser tests will be skipped";; \
	esac; fi

# tests/wordpress runs the native update client inside Debian's WordPress from PHP CLI, on
# MariaDB. As root with apt-get, `make test` installs wordpress, php-cli and php-mysql (no
# recommends: no themes or translations are needed); elsewhere those tests are skipped and say
# why, and under CI=true a missing WordPress fails `make test`. apache2 comes along as a
# dependency of the package and is never started.
WORDPRESS_CORE := /usr/share/wordpress/wp-settings.php
$(VENV)/.wordpress: $(STAMP)
	@why=""; \
	if command -v php >/dev/null 2>&1 && [ -f "$(WORDPRESS_CORE)" ] && php -m | grep -qx mysqli; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "depot: installing Debian's wordpress and PHP CLI for the WordPress tests (log: $(VENV)/wordpress.log)"; \
		pkgs="wordpress php-cli php-mysql"; \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$pkgs || \
			{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$pkgs; }; \
		} >$(VENV)/wordpress.log 2>&1; \
		{ command -v php >/dev/null 2>&1 && [ -f "$(WORDPRESS_CORE)" ]; } || \
			why="apt-get install wordpress php-cli left no php or no $(WORDPRESS_CORE) (see $(VENV)/wordpress.log)"; \
	else \
		why="no PHP CLI or WordPress core, and installing them (apt-get install wordpress php-cli php-mysql) needs root and apt-get"; \
	fi; \
	if [ -z "$$why" ]; then touch $@; \
	else case "$$(echo "$${CI:-}" | tr A-Z a-z)" in \
		1|true|yes) echo "depot: CI=true needs the WordPress tests, but $$why" >&2; exit 1;; \
		*) echo "depot: $$why: WordPress tests will be skipped";; \
	esac; fi

# tests/deploy/test_nginx.py runs `nginx -t` on deploy/nginx and puts Debian's nginx in front of
# both roles. As root with apt-get, `make test` installs it (the package's own service is never
# used: the tests start private instances on free ports); elsewhere those tests are skipped and
# say why, and under CI=true a missing nginx fails `make test`.
NGINX := /usr/sbin/nginx
$(VENV)/.nginx: $(STAMP)
	@why=""; \
	if [ -x "$(NGINX)" ]; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "depot: installing Debian's nginx for the deploy tests (log: $(VENV)/nginx.log)"; \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx || \
			{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx; }; \
		} >$(VENV)/nginx.log 2>&1; \
		[ -x "$(NGINX)" ] || why="apt-get install nginx left no $(NGINX) (see $(VENV)/nginx.log)"; \
	else \
		why="no nginx at $(NGINX), and installing it (apt-get install nginx) needs root and apt-get"; \
	fi; \
	if [ -z "$$why" ]; then touch $@; \
	else case "$$(echo "$${CI:-}" | tr A-Z a-z)" in \
		1|true|yes) echo "depot: CI=true needs the nginx tests, but $$why" >&2; exit 1;; \
		*) echo "depot: $$why: nginx tests will be skipped";; \
	esac; fi

# tests/deploy/test_prometheus_rules.py runs `promtool check rules` and `promtool test rules` on
# deploy/prometheus. Debian's `prometheus` package carries promtool; as root with apt-get,
# `make test` installs it (its own service is never used); elsewhere those tests are skipped
# and say why, and under CI=true a missing promtool fails `make test`.
PROMTOOL := /usr/bin/promtool
$(VENV)/.promtool: $(STAMP)
	@why=""; \
	if [ -x "$(PROMTOOL)" ]; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "depot: installing Debian's prometheus for promtool (log: $(VENV)/promtool.log)"; \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus || \
			{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus; }; \
		} >$(VENV)/promtool.log 2>&1; \
		[ -x "$(PROMTOOL)" ] || why="apt-get install prometheus left no $(PROMTOOL) (see $(VENV)/promtool.log)"; \
	else \
		why="no promtool at $(PROMTOOL), and installing it (apt-get install prometheus) needs root and apt-get"; \
	fi; \
	if [ -z "$$why" ]; then touch $@; \
	else case "$$(echo "$${CI:-}" | tr A-Z a-z)" in \
		1|true|yes) echo "depot: CI=true needs the promtool tests, but $$why" >&2; exit 1;; \
		*) echo "depot: $$why: promtool tests will be skipped";; \
	esac; fi

# tests/deploy/test_compose.py reads deploy/compose with `docker-compose config` (Debian's
# docker-compose; no Docker engine is needed or started). As root with apt-get, `make test`
# installs it; elsewhere that test is skipped and says why, and under CI=true a missing
# docker-compose fails `make test`.
DOCKER_COMPOSE := /usr/bin/docker-compose
$(VENV)/.docker-compose: $(STAMP)
	@why=""; \
	if [ -x "$(DOCKER_COMPOSE)" ]; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "depot: installing Debian's docker-compose for the deploy tests (log: $(VENV)/docker-compose.log)"; \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-compose || \
			{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-compose; }; \
		} >$(VENV)/docker-compose.log 2>&1; \
		[ -x "$(DOCKER_COMPOSE)" ] || why="apt-get install docker-compose left no $(DOCKER_COMPOSE) (see $(VENV)/docker-compose.log)"; \
	else \
		why="no docker-compose at $(DOCKER_COMPOSE), and installing it (apt-get install docker-compose) needs root and apt-get"; \
	fi; \
	if [ -z "$$why" ]; then touch $@; \
	else case "$$(echo "$${CI:-}" | tr A-Z a-z)" in \
		1|true|yes) echo "depot: CI=true needs the compose test, but $$why" >&2; exit 1;; \
		*) echo "depot: $$why: the compose test will be skipped";; \
	esac; fi

test: $(STAMP)
	@[ -x "$(CHROMIUM)" ] || rm -f $(VENV)/.chromium
	@[ -f "$(WORDPRESS_CORE)" ] || rm -f $(VENV)/.wordpress
	@[ -x "$(NGINX)" ] || rm -f $(VENV)/.nginx
	@[ -x "$(PROMTOOL)" ] || rm -f $(VENV)/.promtool
	@[ -x "$(DOCKER_COMPOSE)" ] || rm -f $(VENV)/.docker-compose
	@$(MAKE) --no-print-directory $(VENV)/.mysqlclient $(VENV)/.chromium $(VENV)/.wordpress $(VENV)/.nginx \
		$(VENV)/.promtool $(VENV)/.docker-compose
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

# Both queues: the pipeline's (CELERY_DEFAULT_QUEUE) and mail's (DEPOT_MAIL_QUEUE); production
# runs a worker per queue (deploy/docker/entrypoint.sh worker-pipeline, worker-mail).
worker: $(STAMP)
	$(VENV)/bin/celery -A config worker -l info --queues "$${CELERY_DEFAULT_QUEUE:-depot},$${DEPOT_MAIL_QUEUE:-mail}"

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

# `make stack`: the production topology on this machine, without containers (deploy/stack/run.py):
# nginx in front of gunicorn (web) and granian (updates), a pipeline and a mail worker, beat,
# moto's S3 server and an SMTP sink under honcho, on MariaDB (database depot_stack), Redis (db 11)
# and RabbitMQ (vhost depot_stack), production settings from deploy/stack/stack.env. It migrates,
# seeds, prints the URLs and the admin's credentials and runs until Ctrl-C; `make stack-down`
# stops one left running. Check it end to end: .venv/bin/python deploy/stack/check.py.
$(VENV)/.granian: $(STAMP) requirements/production.txt
	@if $(PIP) install --quiet --disable-pip-version-check $$(grep -E '^granian==' requirements/production.txt) \
		>$(VENV)/granian.log 2>&1; then touch $@; \
	else echo "depot: granian did not install (see $(VENV)/granian.log): the updates role runs under gunicorn"; fi

stack: $(STAMP)
	@[ -x "$(NGINX)" ] || rm -f $(VENV)/.nginx
	@$(MAKE) --no-print-directory $(VENV)/.mysqlclient $(VENV)/.nginx $(VENV)/.granian
	@$(PY) deploy/stack/run.py up

stack-down:
	@$(if $(wildcard $(PY)),$(PY),$(PYTHON)) deploy/stack/run.py down

# `make load`: Locust against a `make stack` of its own (run directory .stack-load, ports 280xx,
# private MariaDB/Redis/RabbitMQ when a fault stops one), faults on a schedule, the invariants
# checked after the drain (the exit status), a report with plots in bench/load/report/latest.
# `make load SCENARIO=storm DURATION=60 FAULTS=storm-flush`; `make load-compare` runs it
# without faults first and puts both side by side. bench/load/README.md.
SCENARIO ?= mixed
DURATION ?= 600
FAULTS ?= full
USERS ?= 0
load: $(STAMP)
	@[ -x "$(NGINX)" ] || rm -f $(VENV)/.nginx
	@$(MAKE) --no-print-directory $(VENV)/.mysqlclient $(VENV)/.nginx $(VENV)/.granian
	$(PIP) install --quiet --disable-pip-version-check -r requirements/bench.txt
	$(PY) bench/load/run.py --scenario $(SCENARIO) --duration $(DURATION) --faults $(FAULTS) \
		--users $(USERS) $(LOAD_ARGS)

load-compare: $(STAMP)
	$(MAKE) --no-print-directory load FAULTS=none LOAD_ARGS="--out bench/load/report/baseline $(LOAD_ARGS)"
	$(MAKE) --no-print-directory load LOAD_ARGS="--baseline bench/load/report/baseline $(LOAD_ARGS)"

clean:
	rm -rf $(VENV) .test-media .test-db.sqlite3 .pytest_cache .mypy_cache .ruff_cache

# Checkout to confirmation under gunicorn with a real Celery worker, next to tasks run inline,
# with an SMTP server that answers after 2 s; on MariaDB (database depot_bench_checkout,
# recreated), Redis (db 4, flushed) and RabbitMQ (queue bench-checkout, purged). Prints figures,
# asserts none; BENCH_ARGS="--orders 50" for a shorter run. bench/checkout/README.md.
bench-checkout: $(STAMP)
	@$(MAKE) --no-print-directory $(VENV)/.mysqlclient
	$(PIP) install --quiet --disable-pip-version-check -r requirements/bench.txt
	$(PY) bench/checkout/run.py $(BENCH_ARGS)
