# Two entry points: `make run` (set up, fetch the base, train if needed, classify, report) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BROWSER_STAMP := $(VENV)/.browser
POSTGRES_STAMP := $(VENV)/.postgres
PROFILE ?= quick

.PHONY: run test install browser lint clean-venv

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# the CPU build of torch that lies on this disk; later ranges admit it and install nothing more
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[train,serve,eval,distributed,dev,ocr,postgres]"
	touch $(STAMP)

# Debian's Chromium (headless report rendering and its test) and a CJK font for its screenshots
$(BROWSER_STAMP):
	command -v chromium >/dev/null 2>&1 && fc-list :lang=zh | grep -q . || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei; }
	mkdir -p $(VENV) && touch $(BROWSER_STAMP)

# Debian's PostgreSQL server (initdb, pg_ctl): the tests start a throw-away cluster of their own (tests/pg_cluster.py)
$(POSTGRES_STAMP):
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }
	mkdir -p $(VENV) && touch $(POSTGRES_STAMP)

install: $(STAMP) $(BROWSER_STAMP) $(POSTGRES_STAMP)

run: install
	$(BIN)/xinfang model fetch
	$(BIN)/xinfang train --profile $(PROFILE) --if-missing
	$(BIN)/xinfang classify --sample -o output/backlog.jsonl
	$(BIN)/xinfang evaluate --default -o reports/
	@$(BIN)/xinfang where --reports reports --backlog output/backlog.jsonl

test: install
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

clean-venv:
	rm -rf $(VENV)
