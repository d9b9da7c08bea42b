# imgclf developer commands. Every target installs what it needs into .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench bench-suite screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## demo: check -> train -> evaluate on the bundled sample photos, then open the app
demo: $(STAMP)
	$(BIN)/imgclf demo

## test: the whole suite (unit, integration with IMGCLF_WEIGHTS / IMGCLF_TEST_DATA, browser)
test: $(STAMP)
	bash scripts/ensure-chromium.sh
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q -p no:cacheprovider --durations=20

## test-fast: unit tests only
test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not integration and not browser and not ray"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

## bench: the benchmark suite (needs IMGCLF_WEIGHTS and IMGCLF_TEST_DATA); writes docs/BENCHMARKS.md
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --json docs/benchmarks.json
	$(MAKE) bench-suite

## bench-suite: accuracy and trust across domains; one dataset alone with DATASETS=brain_mri
DATASETS ?= hymenoptera,flowers,aid_aerial,brain_mri,fashion_mnist
bench-suite: $(STAMP)
	$(BIN)/python -m benchmarks.suite --datasets $(DATASETS) --json docs/suite.json

clean:
	rm -rf $(VENV) test-artifacts .pytest_cache
