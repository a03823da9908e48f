# Two commands do everything on a fresh machine with Python 3.11+: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv demo test lint bench image-test clean

$(STAMP): pyproject.toml requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt -e .
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/bluegreen demo

test: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check bluegreen tests bench entrypoint.py
	$(BIN)/ruff format --check bluegreen tests bench entrypoint.py
	$(BIN)/mypy bluegreen entrypoint.py
	bash .ci/lint-ci-files.sh $(BIN)

bench: venv
	$(BIN)/python bench/run.py

image-test: venv
	bash .ci/image-test.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
