# fabu: `make run` starts the whole platform locally, `make test` runs the whole suite.
# Both create .venv and install everything they need first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run hosts wipe test bench package demo clean web

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "fabu needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	@if [ -f cli/pyproject.toml ]; then $(BIN)/python -m pip install -q -e ./cli; fi
	@touch $@

# The console: `npm ci` only when the lockfile changed, the build only when a source did.
WEB_SOURCES := $(shell find web/src web/build.mjs docs/fields.md -type f 2>/dev/null)
web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npm run --silent build

web: web/dist/index.html

install: $(STAMP) web

# `make run [WIPE=1]`: the platform on this machine (ports: FABU_API_PORT, FABU_AWS_PORT). Its data
# is saved under .fabu/state (every minute and at Ctrl-C) and restored at start; WIPE=1 starts
# empty. Recipes here run python directly, without a shell, so Ctrl-C reaches it undisturbed.
run: export FABU_WIPE = $(WIPE)
run: install
	$(BIN)/python -m infra.run

# `make hosts [N=3 | HOSTS="web-1 web-2"]`, with `make run` going: sandbox hosts under .fabu/hosts/
# running the real agent every few seconds against the API on FABU_API_PORT.
N ?= 3
comma := ,
space := $(subst ,, )
# `make hosts N=3 TAGS="app=hello"` or `make hosts N=3 ASG=hello-asg`: the hosts are emulator
# instances (named by instance id) of those tags or that group; again with another N: scale.
# `make hosts FRONT=url`: the agents talk to the host protocol's local Function URL front
# (http://fabu.lambda-url.<region>.localhost:$FABU_HOST_FRONT_PORT, SigV4 service lambda) that
# `make run` starts, instead of the REST API (FRONT=api, the default).
FRONT ?= api
hosts: export FABU_HOSTS_FRONT = $(FRONT)
hosts: $(STAMP)
	@case "$(FRONT)" in api|url) ;; *) echo "FRONT must be api or url, not '$(FRONT)'" >&2; exit 2 ;; esac
	$(BIN)/python -m infra.hosts --count $(N) $(if $(strip $(HOSTS)),--hosts $(subst $(space),$(comma),$(strip $(HOSTS)))) \
		$(if $(strip $(TAGS)),--tags "$(strip $(TAGS))") $(if $(strip $(ASG)),--group "$(strip $(ASG))")

# `make wipe`: delete the saved data and the sandbox hosts (refused while `make run` or
# `make hosts` runs); the keys in .fabu/principals.json and .fabu/credentials stay.
wipe: $(STAMP)
	$(BIN)/python -m infra.snapshot wipe

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
	@# what the merge cannot express: queues before their SQS mappings, the host protocol's
	@# Function URL front (function, URL, outputs; host_front.py into the zip): infra/package.py
	$(BIN)/python -m infra.package build/package
	$(BIN)/cfn-lint build/package/sam.json
	@echo "template: build/package/sam.json (code: build/package/deployment.zip)"

# `make demo`, with `make run` running in another terminal: 12 sandbox hosts run the real agent
# under .fabu/demo/; 1.0.0 rolls out through its canary waves, then 2.0.0 fails and rolls back.
demo: $(STAMP)
	$(BIN)/python -m infra.demo

clean:
	rm -rf $(VENV) .fabu tests/artifacts web/node_modules web/dist
