# `make run` and `make test` set everything up on first use into .venv/.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint eval train bench load index browser clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build first: anything else would pull a multi-GB CUDA torch.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) app.py

index: install
	$(PY) -m rag index

# Debian's Chromium for the browser tests (never a downloaded browser), and a CJK font
# so that screenshots of Chinese answers are readable.
browser:
	@test -x /usr/bin/chromium && test -d /usr/share/fonts/truetype/wqy || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	  chromium chromium-driver fonts-wqy-microhei >/dev/null; }

lint: install
	$(PY) -m ruff check .

test: install browser lint
	$(PY) -m pytest

eval: install
	$(PY) -m rag eval

# The answer scorer (rag/data/scorer.json + its manifest) from the eval questions and CMRC trial.
train: install
	$(PY) -m evals.train_scorer

bench: install
	$(PY) -m benchmarks.run

load: install
	$(PY) -m benchmarks.load

clean:
	rm -rf $(VENV) .cache index/CURRENT index/builds
