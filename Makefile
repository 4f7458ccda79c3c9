# The README's two commands: `make demo` (install and run the demo) and `make test` (install and run the tests).
# Both create .venv with the Python found as $(PYTHON) (3.11 or newer) and install shopstorm into it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=
# The integration tests mostly wait on real shops and real load runs: more workers than cores pays off. Work
# stealing keeps a worker from idling at the end while another still has a queue of long load tests.
TEST_WORKERS ?= 4

.PHONY: demo test lint format clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("shopstorm needs Python 3.11 or newer, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	@echo "creating $(VENV) and installing shopstorm with Locust and its other dependencies (once; about a minute)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	@echo "installing the test tools (pytest, ruff, hypothesis, import-linter) into $(VENV)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/shopstorm demo $(ARGS)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) shopstorm-out .pytest_cache .ruff_cache
