# Two commands do everything on a fresh clone: `make demo` and `make test`.
# Each creates the virtual environment in .venv the first time.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/newsbot demo

test: $(VENV)/.installed
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/summary_rouge.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/digest.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/telegram_fanout.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/workers.py
	$(BIN)/python bench/feeds_scale.py
	$(BIN)/python bench/reports.py
	-$(BIN)/python bench/spam_score.py  # needs Debian's spamassassin; skipped with a message when missing
	$(BIN)/python bench/collect.py
	$(BIN)/python bench/charts.py

lint: $(VENV)/.installed
	$(BIN)/ruff check bot tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf out .mypy_cache .ruff_cache .pytest_cache
