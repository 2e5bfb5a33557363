# Two commands for a newcomer: `make run` and `make test`. Everything installs from the lock.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck check bench lock migrate clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/gochat dev

migrate: $(STAMP)
	$(BIN)/gochat migrate

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check shared auth_service user_service ws_service gochat

typecheck: $(STAMP)
	$(BIN)/mypy shared auth_service user_service ws_service gochat

check: lint typecheck test

# The benchmarks of issue 7 (needs PostgreSQL, node and npm; Redis for the two-instance run):
# `make bench` writes bench/RESULTS.md; `make bench BENCH_ARGS=--smoke` runs it tiny.
bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Re-pin every dependency after editing pyproject.toml.
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --extra dev --extra bench --generate-hashes --allow-unsafe \
		--strip-extras --no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
