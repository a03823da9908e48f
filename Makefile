# Two commands do everything on a fresh machine with Python 3.11+: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Runtime only (requirements.txt + the package): all `make demo` needs, so a first demo skips the dev
# toolchain (pytest, mypy, ruff, linters). --no-compile: Python compiles only the modules the demo imports
# (a small part of the kubernetes client), not all of them at install time.
RUNTIME := $(VENV)/.runtime-installed

.PHONY: venv demo test e2e lint bench image-test clean

$(STAMP): pyproject.toml requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt -e .
	touch $(STAMP)

venv: $(STAMP)

$(RUNTIME): pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-compile -r requirements.txt -e .
	touch $(RUNTIME)

demo: $(RUNTIME)
	$(BIN)/bluegreen demo

test: venv
	$(BIN)/python -m pytest -q

# The real control plane (etcd, kube-apiserver, kube-controller-manager built from the published Go
# modules; needs Go, and root for the pod network). `make test` stays Go-free. See docs/e2e.md.
e2e: venv
	bash e2e/run.sh $(BIN)

lint: venv
	$(BIN)/ruff check bluegreen tests bench entrypoint.py .github/scripts
	$(BIN)/ruff format --check bluegreen tests bench entrypoint.py .github/scripts
	$(BIN)/mypy bluegreen entrypoint.py tests .github/scripts/release.py
	bash .ci/lint-ci-files.sh $(BIN)

bench: venv
	$(BIN)/python bench/run.py

image-test: venv
	bash .ci/image-test.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
