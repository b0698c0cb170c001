# SPDX-FileCopyrightText: mailops.smtp contributors
# SPDX-License-Identifier: GPL-3.0-or-later
# The README's two commands are `make demo` and `make test`; both run as root on
# a fresh Debian machine and install what they need first (`make setup`).
SHELL := /bin/bash
.DEFAULT_GOAL := help
HOSTS ?= 3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
LAB := $(PY) -m tests.lab

.PHONY: help setup demo test lab-up lab-down bench test-compat lint sanity units

help:
	@echo "make demo     run the collection's main job on a simulated fleet (installs what it needs)"
	@echo "make test     run every test suite (lint, sanity, unit, lab integration)"
	@echo "make setup    install apt packages and the pinned venvs"
	@echo "make lab-up HOSTS=N / make lab-down / make bench / make test-compat"

setup:
	@bash tests/setup/setup.sh

demo: setup
	@bash tests/demo.sh

test: setup
	@bash tests/run_all.sh

lab-up: setup
	@$(LAB) up --hosts $(HOSTS)

lab-down:
	@if [ -x $(PY) ]; then $(LAB) down; else echo "no venv, so no lab to take down"; fi

test-compat: setup
	@bash tests/run_all.sh compat

lint: setup
	@bash tests/run_all.sh lint

sanity: setup
	@bash tests/run_all.sh sanity

units: setup
	@bash tests/run_all.sh units

bench: setup
	@bash bench/run.sh
