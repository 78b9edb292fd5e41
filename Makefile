# The two set-up commands of the README: `make up` (the demo) and `make test` (the tests).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Where scripts/install-tools.sh puts the pinned k3d and helm (its PREFIX/bin); searched first.
TOOLS_BIN ?= $(HOME)/.local/bin
WITH_TOOLS := PATH="$(TOOLS_BIN):$$PATH"

.PHONY: up test test-e2e bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# Bring up the bundled demo workspace (installs pinned k3d/helm first when missing).
up: $(STAMP)
	$(WITH_TOOLS) PREFIX="$(patsubst %/,%,$(dir $(TOOLS_BIN)))" scripts/install-tools.sh --check-or-install
	$(WITH_TOOLS) $(BIN)/envctl doctor
	$(WITH_TOOLS) $(BIN)/envctl up --changed-only

# Everything that runs without k3d/helm: real git, Docker, containerd and registry; KMock for the API.
test: $(STAMP)
	$(BIN)/pytest -q tests

# The real-cluster suite (needs k3d, helm, kubectl and Docker).
test-e2e: $(STAMP)
	$(WITH_TOOLS) $(BIN)/pytest -q -m e2e tests/e2e -p no:cacheprovider

# Side-by-side benchmarks (ratios, not absolute times); see README "Benchmarks".
bench: $(STAMP)
	$(BIN)/python scripts/bench_plan.py
	$(BIN)/python scripts/bench_images.py
	$(BIN)/python scripts/bench_wait.py
	$(BIN)/python scripts/bench_pipeline.py --json .envctl/bench-pipeline.json

clean:
	rm -rf $(VENV) .envctl .pytest_cache
