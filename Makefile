# Two entry points for a fresh machine: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo-output

.PHONY: demo test lint venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# Synthetic data -> preprocess -> train (100 labels) -> extract -> evaluate; a few minutes on 2 cores.
demo: $(STAMP)
	rm -rf $(DEMO)
	$(BIN)/cryopick simulate -o $(DEMO)/data --micrographs 10 --snr 0.03
	$(BIN)/cryopick preprocess $(DEMO)/data/micrographs --particle-diameter-A 96 -o $(DEMO)/preprocessed
	$(BIN)/cryopick train --micrographs $(DEMO)/preprocessed --particles $(DEMO)/data/particles_train.txt \
		--expected-particles-per-micrograph 60 --num-labeled 100 --epochs 5 -o $(DEMO)/model
	$(BIN)/cryopick extract --model $(DEMO)/model --micrographs $(DEMO)/preprocessed -o $(DEMO)/picks.star
	$(BIN)/cryopick evaluate --picks $(DEMO)/picks.star --reference $(DEMO)/data/particles_test.txt \
		--model $(DEMO)/model -o $(DEMO)/evaluation
	@echo "picks (RELION STAR, original pixels): $(DEMO)/picks.star"
	@echo "metrics: $(DEMO)/evaluation/metrics.json   PR curve: $(DEMO)/evaluation/pr_curve.png"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) $(DEMO)
