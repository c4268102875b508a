# Everything runs inside a local virtual environment made from the machine's python3.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast eval bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## Set up and start the advisor (an interview in the terminal).
run: $(STAMP)
	$(BIN)/advisor chat

## Set up and run the whole test suite, slow tests and the eval gate included.
test: $(STAMP)
	$(BIN)/python -m pytest -q

## Only the fast tests.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

eval: $(STAMP)
	$(BIN)/advisor eval --report eval-report

bench: $(STAMP)
	$(BIN)/python -m evals.bench

clean:
	rm -rf $(VENV) build *.egg-info
