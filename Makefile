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

# The suite waits on real processes (agents, chalice local, Chromium) more than it computes:
# TEST_WORKERS pytest-xdist workers, each with its own emulator, keep it well under 10 minutes.
TEST_WORKERS ?= 4
test: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

bench: install
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# `make package [STAGE=prod]`: the CloudFormation (SAM) template of the whole stage, in
# build/package/sam.json, linted. Deploying it is described in docs/operations.md.
STAGE ?= dev
package: $(STAMP)
	rm -rf build/package
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(BIN)/chalice package --stage $(STAGE) \
		--merge-template infra/resources.json build/package
	@# chalice names the SQS event source's queue by ARN, not Ref: without DependsOn the
	@# mapping can be created before its queue on the first deploy.
	$(BIN)/python -c 'import json, sys; path = sys.argv[1]; t = json.load(open(path)); r = t["Resources"]; \
		queues = sorted(k for k, v in r.items() if v["Type"] == "AWS::SQS::Queue"); \
		[v.setdefault("DependsOn", queues) for v in r.values() \
		 if any(e["Type"] == "SQS" for e in v.get("Properties", {}).get("Events", {}).values())]; \
		json.dump(t, open(path, "w"), indent=2)' build/package/sam.json
	$(BIN)/cfn-lint build/package/sam.json
	@echo "template: build/package/sam.json (code: build/package/deployment.zip)"

# `make demo`, with `make run` running in another terminal: 12 sandbox hosts run the real agent
# under .fabu/demo/; 1.0.0 rolls out through its canary waves, then 2.0.0 fails and rolls back.
demo: $(STAMP)
	$(BIN)/python -m infra.demo

clean:
	rm -rf $(VENV) .fabu tests/artifacts web/node_modules web/dist
