# Two commands on a fresh machine: `make demo` and `make test`.
#
# `make test` installs the exact versions in constraints.txt (reproducible); `make test-latest`
# installs the newest releases inside the ranges pyproject.toml declares, runs the suite on them
# and checks that no release above those ranges exists; `make test-oldest` does the same with the
# oldest releases the ranges allow. `make lock` rewrites constraints.txt from the newest releases.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONSTRAINTS := constraints.txt
LINTED := src tests benchmarks examples tools

.PHONY: demo test lint typecheck unit bench clean lock test-latest test-oldest check-bounds mutate bench-gateway

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e '.[dev]'
	touch $(STAMP)

# The day's store, ledger and costcap.toml stay in $(DEMO_DIR) (replaced on each run), so the
# dashboard can open them afterwards.
DEMO_DIR ?= build/demo
demo: $(STAMP)
	rm -rf $(DEMO_DIR)
	$(BIN)/costcap demo --workdir $(DEMO_DIR)

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint unit

# The newest releases inside the declared ranges, in a venv of their own.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install -q --upgrade pip
	.venv-latest/bin/python -m pip install -q --upgrade -e '.[dev]'
	.venv-latest/bin/python -m pip list --format=freeze | grep -iE '^(openai|anthropic|genai-prices)=' || true
	.venv-latest/bin/python -m pytest -q -p no:cacheprovider
	.venv-latest/bin/python tools/check_bounds.py

# Fails, naming the package, when a release above a declared range exists.
check-bounds: $(STAMP)
	$(BIN)/python tools/check_bounds.py

# The oldest releases the declared ranges allow (uv resolves them; pip cannot). Deprecation
# warnings that old releases raise against newer transitive packages are not errors here.
test-oldest:
	rm -rf .venv-oldest
	$(PYTHON) -m venv .venv-oldest
	.venv-oldest/bin/python -m pip install -q uv
	.venv-oldest/bin/uv pip install -q --python .venv-oldest/bin/python --resolution lowest-direct -e '.[dev]'
	.venv-oldest/bin/python -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning

lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q --upgrade pip
	.venv-lock/bin/python -m pip install -q -e '.[dev]'
	{ echo '# The exact versions `make test` installs: rewritten by `make lock` (newest releases'; \
	  echo '# inside the ranges pyproject.toml declares).'; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^-e '; } > $(CONSTRAINTS)
	rm -rf .venv-lock

# Mutation testing of the money path (tools/mutate.py, docs/testing.md): every module's tests
# against small deliberate bugs, on a copy of the tree; fails when a module kills under 90 %.
# About 10 minutes on two cores, so not part of `make test`.
mutate: $(STAMP)
	$(BIN)/python -m tools.mutate

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# The gateway benchmark (benchmarks/gateway/README.md): `costcap serve` and the LiteLLM proxy
# beside direct calls, ≈ 15 min. LiteLLM goes in a venv of its own (git-ignored); wrk comes from
# Debian (apt-get install -y wrk). ARGS: e.g. ARGS='--quick --only direct,costcap'.
bench-gateway: $(STAMP)
	test -x benchmarks/gateway/.venv-litellm/bin/litellm || { \
	  $(PYTHON) -m venv benchmarks/gateway/.venv-litellm && \
	  benchmarks/gateway/.venv-litellm/bin/python -m pip install -q --upgrade pip && \
	  benchmarks/gateway/.venv-litellm/bin/python -m pip install -q 'litellm[proxy]'; }
	$(BIN)/python benchmarks/gateway/bench_gateway.py --write $(ARGS)

clean:
	rm -rf $(VENV) .venv-latest .venv-oldest .venv-lock build dist .pytest_cache .mypy_cache .ruff_cache
