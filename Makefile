# Two entry points for a fresh machine: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo-output

.PHONY: demo test lint browser venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# Synthetic data -> preprocess -> train (100 labels) -> extract -> evaluate -> report: about 5 minutes
# on 2 idle cores (training is most of it; one log line per epoch, and every 30 s, when piped).
demo: $(STAMP)
	rm -rf $(DEMO)
	$(BIN)/cryopick simulate -o $(DEMO)/data --num-micrographs 10 --snr 0.03
	$(BIN)/cryopick preprocess $(DEMO)/data/micrographs --particle-diameter-A 96 -o $(DEMO)/preprocessed
	$(BIN)/cryopick train --micrographs $(DEMO)/preprocessed --particles $(DEMO)/data/particles_train.txt \
		--expected-particles-per-micrograph 60 --num-labeled 100 --epochs 2 -o $(DEMO)/model
	$(BIN)/cryopick extract --model $(DEMO)/model --micrographs $(DEMO)/preprocessed -o $(DEMO)/picks.star
	$(BIN)/cryopick evaluate --picks $(DEMO)/picks.star --reference $(DEMO)/data/particles_test.txt \
		--model $(DEMO)/model -o $(DEMO)/evaluation
	$(BIN)/cryopick report --picks $(DEMO)/picks.star --micrographs $(DEMO)/preprocessed \
		--reference $(DEMO)/data/particles_test.txt -o $(DEMO)/report.html
	@echo "picks (RELION STAR, original pixels): $(DEMO)/picks.star"
	@echo "metrics: $(DEMO)/evaluation/metrics.json   PR curve: $(DEMO)/evaluation/pr_curve.png"
	@echo "report (open in a browser): $(DEMO)/report.html"
	@echo "label, review and retrain in the browser: $(BIN)/cryopick app --micrographs $(DEMO)/preprocessed --model $(DEMO)/model --epochs 2 -o $(DEMO)/app"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

# The report's test renders it in Debian's chromium: installed here when missing, if we may (root
# with apt); otherwise that one test is skipped and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the report's browser test"; \
	    apt-get install -y -qq chromium >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; } || \
	    echo "note: could not install chromium; the browser test will be skipped"; \
	  else echo "note: no chromium (apt-get install chromium); the report's browser test will be skipped"; fi; }

test: lint browser
	$(BIN)/pytest

clean:
	rm -rf $(VENV) $(DEMO)
