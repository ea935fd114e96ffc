# Stockpool: `make run` starts the demo, `make test` runs the whole suite.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WEB_PORT ?= 8000

# The suite runs on PostgreSQL and Redis; these are the local defaults when none are given.
TEST_DATABASE_URL ?= $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/stockpool)
TEST_REDIS_URL ?= $(or $(REDIS_URL),redis://127.0.0.1:6379/1)

.PHONY: run test lint format venv clean

venv: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

run: venv
	@mkdir -p var/broker/queue var/broker/processed var/broker/control var/cache
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py load_demo
	@echo ""
	@echo "  Stockpool is starting these processes (config/Procfile); Ctrl-C stops them all:"
	@echo "    web     http://127.0.0.1:$(WEB_PORT)/admin/  (health: /health/, API docs: /api/docs/)"
	@echo "    worker  Celery worker: outbox deliveries, webhooks, syncs, alert notifications"
	@echo "    beat    Celery beat: expiry sweeps, scheduled syncs, alert rules, reconciliation"
	@echo "    zoho    Zoho Inventory sandbox   http://127.0.0.1:8101/_sandbox/"
	@echo "    cin7    Cin7 Core sandbox        http://127.0.0.1:8102/_sandbox/"
	@echo "    medusa  Medusa sandbox           http://127.0.0.1:8103/_sandbox/"
	@echo "    amazon  Amazon SP-API sandbox    http://127.0.0.1:8104/_sandbox/"
	@echo "  What each sandbox received: GET <sandbox>/_sandbox/requests (README: Partner sandboxes)."
	@echo ""
	WEB_PORT=$(WEB_PORT) $(BIN)/honcho --procfile config/Procfile --app-root . start

test: venv
	$(BIN)/ruff check .
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf var staticfiles .pytest_cache .ruff_cache
