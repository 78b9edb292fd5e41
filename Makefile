# The two set-up commands of the README: `make up` (the demo) and `make test` (the tests).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Where scripts/install-tools.sh puts the pinned k3d and helm (its PREFIX/bin); searched first.
TOOLS_BIN ?= $(HOME)/.local/bin
WITH_TOOLS := PATH="$(TOOLS_BIN):$$PATH"

.PHONY: up lint test test-e2e bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# Bring up the bundled demo workspace. The pinned k3d/helm are installed when the version on PATH is
# not the pinned one (one try, both tools, each failure named); `envctl doctor` ALWAYS runs next and
# lists what is still missing (install page, pinned version, the PATH searched), and `envctl up`
# runs only when doctor passes. GNU make itself exits 2 on any failed step: the line
# "make: *** [Makefile:NN: up] Error 3" carries doctor's code.
up: $(STAMP)
	@$(WITH_TOOLS) PREFIX="$(patsubst %/,%,$(dir $(TOOLS_BIN)))" scripts/install-tools.sh --check-or-install \
	  || echo "make up: the pinned install did not complete (above); envctl doctor says what is missing" >&2
	$(WITH_TOOLS) $(BIN)/envctl doctor
	$(WITH_TOOLS) $(BIN)/envctl up --changed-only

# The static checks, in seconds: ruff's broad rule set, the layers of AGENTS.md, mypy --strict.
lint: $(STAMP)
	$(BIN)/ruff check envctl tests scripts
	$(BIN)/lint-imports
	$(BIN)/mypy --strict envctl
	@# Facts code relies on live in docs/ (never in notes outside the repository), and the product
	@# never bends around the test API double.
	@! grep -rnE '(libraries|anchors|style|performance|test-environment)\.md' envctl scripts tests .ci
	@! grep -rni 'kmock' envctl

# Everything that runs without k3d/helm: real git, Docker, containerd and registry; KMock for the API.
# Two pytest workers (pytest-xdist): one test at a time leaves a core of these 2-core machines idle
# for much of the run. Tests isolate what they make by unique names, so they may run side by side.
test: lint
	$(BIN)/pytest -q -n 2 tests

# The real-cluster suite (needs k3d, helm, kubectl and Docker).
test-e2e: $(STAMP)
	$(WITH_TOOLS) $(BIN)/pytest -q -m e2e tests/e2e -p no:cacheprovider

# Side-by-side benchmarks (ratios, not absolute times); see README "Benchmarks".
bench: $(STAMP)
	$(BIN)/python scripts/bench_plan.py
	$(BIN)/python scripts/bench_images.py
	$(BIN)/python scripts/bench_wait.py
	$(BIN)/python scripts/bench_pipeline.py --json .envctl/bench-pipeline.json
	$(BIN)/python scripts/bench_seed.py --json .envctl/bench-seed.json
	$(BIN)/python scripts/bench_noop.py --json .envctl/bench-noop.json

clean:
	rm -rf $(VENV) .envctl .pytest_cache
