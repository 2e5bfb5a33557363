# Two commands for a newcomer: `make run` and `make test`. Everything installs from the lock.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck check bench lock migrate clean

# The locks are compiled on Python 3.11 and need 3.11.3 or later (below it, redis wants a
# backport they do not pin): say so before pip fails on it.
$(STAMP): requirements.lock pyproject.toml
	@$(or $(wildcard $(BIN)/python),$(PYTHON)) -c 'import sys; v = sys.version.split()[0]; \
		too_old = f"gochat needs Python 3.11.3 or later; {sys.executable} is {v}"; \
		sys.exit(None if sys.version_info >= (3, 11, 3) else too_old + ": make clean install PYTHON=/path/to/newer/python3")'
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

# Re-pin every dependency after editing pyproject.toml, into every lock file:
# - requirements.lock: everything (runtime, dev, bench), what `make install` installs;
# - requirements-runtime.lock: what runs plus the build backend, at the same versions
#   (constrained by requirements.lock), all the Docker image installs;
# - .ci/compose/compose-plugin.lock: the Docker Compose plugin CI installs (its .in file).
PIP_COMPILE = $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links
lock: $(STAMP)
	$(PIP_COMPILE) --extra dev --extra bench --output-file requirements.lock pyproject.toml
	$(PIP_COMPILE) --build-deps-for wheel --constraint requirements.lock \
		--output-file requirements-runtime.lock pyproject.toml
	$(PIP_COMPILE) --output-file .ci/compose/compose-plugin.lock .ci/compose/compose-plugin.in

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
