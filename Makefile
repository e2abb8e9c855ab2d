# `make run` and `make test` set everything up on first use into .venv/.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install lock run test lint eval eval-wrapped eval-pdf eval-docx eval-html eval-md eval-traditional eval-fullwidth eval-chatty eval-traditional-docs eval-cmrc train bench load index browser clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build first: anything else would pull a multi-GB CUDA torch.
	$(PY) -m pip install --quiet torch==2.13.0
	# The exact versions the tests passed with (constraints.txt), within pyproject's ranges.
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# After an upgrade that passes `make test`: record the versions for everyone else.
# (torch's local "+cpu" tag is dropped: torch==2.13.0 matches the CPU build installed first.)
lock: install
	{ echo "# The tested versions, for reproducible installs: make install uses it (pip install -c constraints.txt)."; \
	  echo "# Regenerate from a passing environment with: make lock"; \
	  $(PY) -m pip freeze --exclude-editable | sed -E 's/^(torch==[^+]+)\+cpu$$/\1/'; } > constraints.txt

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

# The seed set with the baselines, then the seven corpus reports (each question asked of
# its own report), then English questions from outside them all (other places, general
# knowledge); `make eval-cmrc` adds CMRC 2018 trial, `make train` the held-out figures.
eval: install
	$(PY) -m rag eval
	$(PY) -m rag --docs evals/corpus --index-dir index/corpus eval \
	  --set evals/corpus_questions.jsonl --no-baselines --out evals/reports/corpus
	$(PY) -m rag eval --set evals/offtopic_en.jsonl --no-baselines --out evals/reports/offtopic-seed
	$(PY) -m rag --docs evals/corpus --index-dir index/corpus eval \
	  --set evals/offtopic_en.jsonl --no-baselines --out evals/reports/offtopic-reports

# The corpus reports hard-wrapped at 38 characters (as pdftotext writes them), typeset as
# PDFs, saved as Word or as web pages, or asked in traditional characters or full-width
# digits, then their eval: each should be answered as well as the original text.
eval-wrapped eval-pdf eval-docx eval-html eval-md eval-traditional eval-fullwidth eval-chatty eval-traditional-docs: eval-%: install
	rm -rf .cache/$*
	$(PY) -m evals.renditions $* evals/corpus .cache/$*
	$(PY) -m rag --docs .cache/$*/docs --index-dir index/$* eval \
	  --set .cache/$*/questions.jsonl --no-baselines --out evals/reports/$*

eval-cmrc: install
	$(PY) -m rag --docs .cache/cmrc-docs --index-dir index/cmrc eval \
	  --set evals/cmrc2018/cmrc2018_trial.json --no-baselines --out evals/reports/cmrc

# Fit on the eval questions and CMRC trial, with leave-one-document-out figures in evals/reports/:
# the English query adapter (rag/data/query_adapter.safetensors), the abstention model
# (rag/data/abstention.json, the default decision) and the learned scorer (rag/data/scorer.json),
# each with its manifest.
train: install
	$(PY) -m evals.train_adapter
	$(PY) -m evals.train_abstention
	$(PY) -m evals.train_scorer

bench: install
	$(PY) -m benchmarks.run

load: install
	$(PY) -m benchmarks.load

clean:
	rm -rf $(VENV) .cache index/CURRENT index/builds
