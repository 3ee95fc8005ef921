# fabu: `make run` starts the whole platform locally, `make test` runs the whole suite.
# Both create .venv and install everything they need first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test bench package demo clean web

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "fabu needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	@if [ -f cli/pyproject.toml ]; then $(BIN)/python -m pip install -q -e ./cli; fi
	@touch $@

web:
	@if [ -f web/package.json ]; then cd web && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build; fi

install: $(STAMP) web

run: install
	$(BIN)/python -m infra.run

test: install
	$(BIN)/python -m pytest

bench: install
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# `make demo`, with `make run` running in another terminal: 12 sandbox hosts run the real agent
# under .fabu/demo/; 1.0.0 rolls out through its canary waves, then 2.0.0 fails and rolls back.
demo: $(STAMP)
	$(BIN)/python -m infra.demo

clean:
	rm -rf $(VENV) .fabu tests/artifacts web/node_modules web/dist
