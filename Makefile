# Two commands do everything on a fresh machine: `make preview` and `make test`.
SHELL := /bin/bash
STACK ?= dev
VENV := .venv
PY := $(VENV)/bin/python
PG_BIN := /usr/lib/postgresql/15/bin
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup system-deps policy-venv preview gate test lint bench layer clean

setup: $(VENV)/.installed system-deps policy-venv

$(VENV)/.installed: requirements.txt policies/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

# The policy pack's own virtualenv, named in policies/PulumiPolicy.yaml (runtime.options.virtualenv): the
# Pulumi CLI runs the pack with it (`pulumi preview --policy-pack policies`) and does not create it for a
# local pack; the offline gate runs the pack with it too.  The wheels are kept in build/policy-wheels so
# the standalone-pack test can build a second virtualenv from policies/requirements.txt offline.
PACK_VENV := policies/venv
PACK_WHEELS := build/policy-wheels
policy-venv: $(PACK_VENV)/.installed

$(PACK_VENV)/.installed: policies/requirements.txt
	rm -rf $(PACK_VENV)
	python3 -m venv $(PACK_VENV)
	$(PACK_VENV)/bin/pip download -q --disable-pip-version-check -d $(PACK_WHEELS) -r policies/requirements.txt
	$(PACK_VENV)/bin/pip install -q --disable-pip-version-check --no-index --find-links $(PACK_WHEELS) -r policies/requirements.txt
	touch $@

# PostgreSQL 15 (drills and client tests) and pgbouncer (the stand-in for RDS Proxy).
# apt runs only when something is missing; Debian's packages must not start services here.
system-deps:
	@missing=""; \
	[ -x $(PG_BIN)/postgres ] || missing="$$missing postgresql-15"; \
	command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || missing="$$missing pgbouncer"; \
	command -v ip >/dev/null 2>&1 || missing="$$missing iproute2"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && \
	  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; rc=$$?; \
	  rm -f /usr/sbin/policy-rc.d; exit $$rc; \
	fi

# POLICY_CONFIG=<file> overrides the policy config; without it a stack gets policies/config/<stack>.json,
# else the levels of its `environment` (gate/stack_policy.py).
GATE_ARGS = --stack $(STACK) $(if $(POLICY_CONFIG),--policy-config $(POLICY_CONFIG))

preview: setup
	$(PY) -m gate preview $(GATE_ARGS)

gate: setup
	$(PY) -m gate check $(GATE_ARGS)

# Three workers on two cores: a third of the suite waits on sockets, deadlines and PostgreSQL, not the CPU
# (100 s instead of 130 s on 2 cores).
test: setup
	$(PY) -m pytest -q -n 3

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --explicit-package-bases components gate dbclient policies/rules
	$(VENV)/bin/mypy __main__.py
	$(VENV)/bin/mypy policies/__main__.py
	$(VENV)/bin/mypy -m policies.reference
	$(VENV)/bin/mypy provider/__main__.py

# The Lambda's psycopg layer (manylinux wheels for python3.11, build/lambda-layer.zip): run it before
# `pulumi up` with lambdaFunction.enabled; the program only reads the zip (lambdaFunction.layerArchive).
# It needs the virtualenv only, not PostgreSQL (system-deps): CI runners build it without root.
layer: $(VENV)/.installed
	$(PY) -m dbclient.layer

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(PACK_VENV) .pytest_cache .mypy_cache .ruff_cache build
