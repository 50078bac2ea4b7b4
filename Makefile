# psqlqueue: the two commands users need are `make run` and `make test`.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: setup install fmt-check clippy machete deny pgrx-test integration-test sqs-test ui-test test run stop bench bench-soak bench-sidecars bench-instructions reliability

setup:             
	@bash scripts/setup.sh

install: setup     
	@bash scripts/install-ext.sh

fmt-check:
	cargo fmt --all --check

clippy: setup
	cargo clippy --workspace --all-targets -- -D warnings

# Dependencies no crate uses.
machete: setup
	cargo machete

# Licenses, banned or duplicate crates, sources (deny.toml; advisories need the network).
deny: setup
	cargo deny --log-level error check licenses bans sources

pgrx-test: setup   
	@bash scripts/pgrx-test.sh

# The preloaded cluster (54331) hosts the background worker's test; it is stopped whatever the
# outcome.
integration-test: install   
	@bash scripts/system-pg.sh
	@bash scripts/preload-cluster.sh start
	@trap 'bash scripts/preload-cluster.sh stop' EXIT; cargo test -p psqlqueue-tests -p psqlqueue-http -p psqlqueue-client

# The SQS API through real clients (boto3, the AWS CLI) and across REST and SQL: pytest in a
# virtualenv of pinned packages (target/sqs-venv, made once), against two sidecars (auth none and
# token) over a fresh database on the system server, all removed after (tests/sqs/run.sh).
sqs-test: install
	@bash tests/sqs/run.sh

# The dashboard (/ui) in Debian's headless Chromium, driven by Selenium from a virtualenv of
# pinned packages (target/ui-venv, made once), against three sidecars over two fresh databases
# on the system server, all removed after (tests/ui/run.sh). Screenshots: target/ui-screenshots/
# and docs/ui.png; the measures (first-load bytes, render time of 1,000 queues) are printed.
ui-test: install
	@bash tests/ui/run.sh

test: setup fmt-check clippy machete deny pgrx-test integration-test sqs-test ui-test

run: install
	@bash scripts/run.sh

stop:
	@bash scripts/stop.sh

# BENCH_STARTED: the report's run time then includes the release builds.
bench: setup
	@bash scripts/bench-setup.sh
	@export BENCH_STARTED=$$(date +%s); bash scripts/install-ext.sh --release && bash bench/run.sh

# CPU instructions per cycle of the c=8 targets' pairs, counted by callgrind (bench/instructions.sh):
# writes docs/bench/instructions.md.
bench-instructions: setup
	@bash scripts/bench-setup.sh
	@bash scripts/install-ext.sh --release
	@bash bench/instructions.sh

bench-soak: setup
	@bash scripts/bench-setup.sh
	@bash scripts/install-ext.sh --release
	@bash bench/soak.sh

# One sidecar against three on the same database (docs/SCALING.md): writes docs/bench/sidecars.md.
bench-sidecars: setup
	@bash scripts/bench-setup.sh
	@bash scripts/install-ext.sh --release
	@bash bench/sidecars.sh

# A Jepsen-style queue checker under faults (database restart, sidecar kill and stop, backend
# terminations, crash recovery, a 10 s packet blackhole) over a private stock cluster on 54332: writes docs/RELIABILITY.md, fails on a
# lost, unexpected or acked-then-redelivered message or overlapping leases.
reliability: install
	@bash scripts/reliability.sh
