# devstack's two entry points after a clone: `make demo` and `make test`.
# Each installs what is missing on a fresh Debian 12 machine: the virtualenv, the Docker engine (as root, from
# Debian's docker.io, started when none runs) and, when no registry answers, the offline base image.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
PUBLIC_BASE := python:3.11-slim-bookworm
BASE_RECORD := .devstack/base-image
APT := DEBIAN_FRONTEND=noninteractive apt-get -y -q
# The base image builds use: the public one when a registry serves it, else devstack/base:bookworm.
BASE = $$(cat $(BASE_RECORD))

CLUSTER := $(PYTHON) tests/cluster/cluster.py
CLUSTER_KUBECONFIG := .devstack/test-cluster/kubeconfig

.PHONY: help demo test down lint docs unit integration bench bench-tools venv docker base-image lua browser screenshots clean test-cluster \
	test-cluster-down kind-node packages

help:
	@echo "make demo   bring the demo stack up (devstack up)"
	@echo "make test   lint, type-check and run the whole test suite"
	@echo "make down   remove the demo stack"
	@echo "make bench  run the benchmarks under bench/"
	@echo "make docs   build the documentation site into site/ (offline; open site/index.html)"
	@echo "make test-cluster       start devstack's Kubernetes test cluster (context devstack-test)"
	@echo "make test-cluster-down  stop it and undo what it changed on this machine"

demo: venv docker base-image
	DEVSTACK_BASE_IMAGE=$(BASE) $(BIN)/devstack up

down: venv docker
	$(BIN)/devstack down

# The suite runs on the real test cluster too: started here when it is not running, and stopped again (with
# everything it changed on the machine undone) when this run started it.
# What the suite needs is made in parallel after one apt-get for every Debian package: the cluster's Go build (CPU)
# beside the base images' debootstraps (network and disk), the linters and the docs.
test: venv docker packages
	@$(MAKE) --no-print-directory -j4 --output-sync=line base-image lua browser lint docs kind-node
	@started=0; if ! $(CLUSTER) status >/dev/null 2>&1; then started=1; fi; \
	status=0; $(MAKE) --no-print-directory test-cluster || status=$$?; \
	if [ $$status -eq 0 ]; then \
		DEVSTACK_BASE_IMAGE=$(BASE) DEVSTACK_TEST_KUBECONFIG=$(CURDIR)/$(CLUSTER_KUBECONFIG) \
			$(BIN)/pytest -ra tests || status=$$?; \
		if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; status=1; fi; \
	fi; \
	if [ $$started -eq 1 ]; then $(CLUSTER) down || status=1; fi; \
	exit $$status

# Builds Kubernetes v1.37.2, etcd, containerd, runc, the CNI plugins, CoreDNS and helm from their Go modules once
# (minutes; cached outside the clone, ~/.cache/devstack/test-cluster), then starts a single-node cluster on
# 127.0.0.1 and writes its kubeconfig (context devstack-test), with the cluster's kubectl and helm in the folder
# beside it (.devstack/test-cluster/bin). See tests/cluster/.
test-cluster: docker
	@bash tests/cluster/build.sh
	@$(CLUSTER) up --kubeconfig $(CLUSTER_KUBECONFIG)

test-cluster-down:
	@$(CLUSTER) down

# kind v0.33.0 and a kind node image of Kubernetes v1.37.2 assembled from the test cluster's programs, for the kind
# provider's tests (tests/realkind). Cached: rebuilt only when an input changes (tests/kind/build.sh).
kind-node: docker
	@bash tests/cluster/build.sh
	@bash tests/kind/build.sh >/dev/null

lint: venv
	$(BIN)/ruff check devstack sink tests bench docs
	$(BIN)/mypy
	MYPYPATH=bench $(BIN)/mypy --explicit-package-bases bench  # strict too; bench/ scripts import each other
	MYPYPATH=tests/cluster $(BIN)/mypy --strict --explicit-package-bases tests/cluster  # its modules import each other
	$(BIN)/lint-imports

# The documentation site (mkdocs.yml): docs/ and the repository's other Markdown, offline; --strict makes a broken
# link or anchor an error.
docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# Every bench/*_bench.py, then the tables of docs/benchmarks.md from their results (bench/run.py).
bench: venv docker base-image bench-tools
	DEVSTACK_BASE_IMAGE=$(BASE) $(BIN)/python bench/run.py

# The sink benchmark's peer is Postfix's smtp-sink: installed as root, with no mail server configured or started.
bench-tools:
	@if [ ! -x /usr/sbin/smtp-sink ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
		apt-get update -q >/dev/null; $(APT) install postfix >/dev/null; fi

venv: $(BIN)/devstack

$(BIN)/devstack: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Every Debian package `make test` uses, in one apt-get (as root; nothing to do when all are there), so that the steps
# after it never run apt-get at once: debootstrap (base images, kind's node), lua5.4, chromium for the browser tests,
# and the test cluster's build tools (tests/cluster/debian-packages).
TEST_PACKAGES := debootstrap lua5.4 chromium chromium-driver $(shell cat tests/cluster/debian-packages)
packages:
	@need=""; for pkg in $(TEST_PACKAGES); do \
		dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q "install ok installed" || need="$$need $$pkg"; done; \
	if [ -z "$$need" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "make test needs these Debian packages:$$need (apt-get install them as root)" >&2; exit 1; fi; \
	echo "installing from Debian:$$need"; apt-get update -q >/dev/null; $(APT) install $$need >/dev/null

# A running engine, or an explanation of how to get one.
docker:
	@if docker info >/dev/null 2>&1; then exit 0; fi; \
	if ! command -v dockerd >/dev/null 2>&1; then \
		if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
			echo "devstack needs a Docker engine: install Docker (https://docs.docker.com/engine/install/)," \
			     "or on Debian as root: apt-get install docker.io; then start it" >&2; exit 1; fi; \
		echo "installing Debian's docker.io"; apt-get update -q >/dev/null; $(APT) install docker.io >/dev/null; \
	fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "the Docker engine is installed but not running: start it (sudo systemctl start docker)" >&2; exit 1; fi; \
	echo "starting dockerd (log: /var/log/dockerd.log)"; \
	setsid dockerd >/var/log/dockerd.log 2>&1 </dev/null & \
	for i in $$(seq 60); do docker info >/dev/null 2>&1 && exit 0; sleep 1; done; \
	echo "dockerd did not answer within 60 s; see /var/log/dockerd.log" >&2; exit 1

# luac5.4 syntax-checks the KumoMTA stack's Lua policy (tests/kubernetes/test_kumomta_stack.py).
lua:
	@if command -v luac5.4 >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "make test needs luac5.4: on Debian, apt-get install lua5.4" >&2; exit 1; fi; \
	echo "installing Debian's lua5.4"; apt-get update -q >/dev/null; $(APT) install lua5.4 >/dev/null

# The dashboard's tests (tests/browser) drive Debian's chromium with Playwright; Playwright's own browser download
# (`playwright install`) is never used.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "make test needs chromium: on Debian, apt-get install chromium chromium-driver" >&2; exit 1; fi; \
	echo "installing Debian's chromium and chromium-driver"; apt-get update -q >/dev/null; \
	$(APT) install chromium chromium-driver >/dev/null

# The dashboard's pictures in docs/images, taken by its browser tests against the demo on the real swarm.
screenshots: venv docker base-image browser
	DEVSTACK_BASE_IMAGE=$(BASE) DEVSTACK_SCREENSHOTS=$(CURDIR)/docs/images $(BIN)/pytest -q tests/browser

# debootstrap is needed only when no registry serves the public base image.
base-image: venv docker
	@if ! command -v debootstrap >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -q >/dev/null; $(APT) install debootstrap >/dev/null; fi
	$(BIN)/devstack base-image --auto $(PUBLIC_BASE) --record $(BASE_RECORD)
	$(BIN)/devstack -f stacks/mailman/devstack.toml base-image --auto $(PUBLIC_BASE)
	$(BIN)/devstack -f stacks/mailu/devstack.toml base-image --auto $(PUBLIC_BASE)

clean:
	rm -rf $(VENV) .devstack .pytest_cache .mypy_cache .ruff_cache
