PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint bench gallery tensorboard-screenshots clean

install: $(STAMP)

# Re-installs only when pyproject.toml changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test,tensorboard]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/nnlab moons
	$(BIN)/nnlab mnist
	$(BIN)/nnlab confidence
	$(BIN)/nnlab sweep moons seed=0-19 hidden=10,50
	$(BIN)/nnlab index

# Two pytest workers (pytest-xdist): the suite is mostly waiting on processes and clusters it starts; work
# stealing keeps both busy to the end (the tests last from milliseconds to 8 s): 83 s instead of 106 s.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist worksteal

# The edit loop: everything but real processes, fresh interpreters and Dask clusters.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not cluster"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/ruff format --check src tests benchmarks docs

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

gallery: $(STAMP)
	$(BIN)/python docs/make_gallery.py

# Needs Debian's chromium package (headless) for the screenshots of a real TensorBoard page.
tensorboard-screenshots: $(STAMP)
	$(BIN)/python docs/make_tensorboard_screenshots.py

clean:
	rm -rf $(VENV) outputs build src/*.egg-info .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
