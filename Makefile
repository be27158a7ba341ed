# Two entry points: `make run` (set up, fetch the base, train if needed, classify, report) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= quick

.PHONY: run test install lint clean-venv

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# the CPU build of torch that lies on this disk; later ranges admit it and install nothing more
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[train,serve,eval,dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/xinfang model fetch
	$(BIN)/xinfang train --profile $(PROFILE) --if-missing

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check xinfang training serving evaluation tests benchmarks

clean-venv:
	rm -rf $(VENV)
