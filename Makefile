# The two commands: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
B ?=

.PHONY: install run test test-localstack lint bench localstack clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

run: install
	$(PY) -m devstack.run

test: install
	$(PY) -m devstack.test

# The SNS/SQS tests again, unchanged, on LocalStack (started natively on a free port; installed if missing).
test-localstack: install
	AWS_EMULATOR=localstack $(PY) -m devstack.test

lint: install
	$(PY) -m ruff check .

bench: install
	$(PY) -m bench $(B)

localstack: install
	$(PY) -m devstack.localstack

clean:
	rm -rf var .pytest_cache .ruff_cache
