# The two commands a newcomer needs: `make run` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
QA := $(VENV)/bin/qa
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1

.PHONY: install run test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and exactly: an unpinned resolve would fetch a multi-GB CUDA build.
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Set up, index seeds/, and serve the API and chat page on http://127.0.0.1:8000
run: install
	$(QA) ingest seeds
	$(QA) serve

## Set up and run every test, the slow suites over the public data included
test: install
	$(PY) -m pytest -m "" -q

## The quick suites only (what a developer runs between edits)
test-fast: install
	$(PY) -m pytest -m "not slow" -q

lint: install
	$(VENV)/bin/ruff check qa api eval tests
	$(VENV)/bin/mypy qa api eval

## Benchmarks over ../shared/data/bbc-news (each prints its baseline beside it)
bench: install
	$(PY) -m eval.bench.ingest
	$(PY) -m eval.bench.ask
	$(PY) -m eval.bench.load

clean:
	rm -rf $(VENV) data .pytest_cache
