# casework — developer entry points. Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PG_DEFAULT_URL := postgresql+psycopg://postgres@127.0.0.1:5432/test

# PostgreSQL tests run when CASEWORK_TEST_POSTGRES_URL is set. Under CI it is always set (a
# missing server then fails the tests); elsewhere it is set when the local server answers.
ifeq ($(origin CASEWORK_TEST_POSTGRES_URL), undefined)
  ifeq ($(CI),true)
    export CASEWORK_TEST_POSTGRES_URL := $(PG_DEFAULT_URL)
  else
    PG_UP := $(shell $(PYTHON) -c "import socket; s=socket.socket(); s.settimeout(1); print(s.connect_ex(('127.0.0.1', 5432)) == 0)" 2>/dev/null)
    ifeq ($(PG_UP),True)
      export CASEWORK_TEST_POSTGRES_URL := $(PG_DEFAULT_URL)
    endif
  endif
endif

.PHONY: demo test lint typecheck pytest bench clean

$(BIN)/.installed-base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(BIN)/.installed-dev: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/.installed-base $@

demo: $(BIN)/.installed-base
	$(BIN)/casework demo --out demo-out

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(BIN)/.installed-dev
	$(BIN)/mypy

pytest: $(BIN)/.installed-dev
	$(BIN)/pytest -n 2 -p no:cacheprovider

test: lint typecheck pytest

# Every benchmark runs even when an earlier one misses its bar; the target fails at the end.
bench: $(BIN)/.installed-dev
	@status=0; \
	for b in lifecycle calendar deadlines report; do \
	  echo "== benchmarks/$$b.py"; $(BIN)/python benchmarks/$$b.py || status=1; \
	done; exit $$status

clean:
	rm -rf $(VENV) demo-out .mypy_cache .ruff_cache .pytest_cache
