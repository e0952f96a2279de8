# FundLedger entry points. `make run` and `make test` install what they need themselves.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test bootstrap protos release-protos lint migrate bench bench-median fmt demo loadtest restore-drill

bootstrap:
	@scripts/bootstrap.sh

## Bring the whole local stack up (PostgreSQL, NATS JetStream, SeaweedFS S3, every service).
run: bootstrap protos
	$(PY) -m fundledger_devstack run

## The whole suite: proto drift and lint, ruff, mypy, pytest against real servers.
test: bootstrap
	@scripts/test.sh

## Regenerate libs/api from protos/ (never edit generated code by hand).
protos:
	@scripts/gen_protos.sh

## Record today's protos as a released contract (VERSION=v1.2.3): `make test` refuses breaking
## changes against the newest one in releases/protos/.
release-protos: bootstrap
	@scripts/release_protos.sh $(VERSION)

lint: bootstrap
	@scripts/test.sh --lint-only

fmt:
	$(VENV)/bin/ruff format libs services tests && $(VENV)/bin/ruff check --fix libs services tests

## Apply migrations to the database in FUNDLEDGER_DATABASE_URL (default: the local stack's).
migrate: bootstrap
	$(PY) -m eventstore migrate

## A realistic fund through every service, against a running `make run` stack (see docs/demo.md).
demo:
	$(PY) -m fundledger_cli.demo

## Benchmarks with same-run baselines (not part of `make test`).
bench: bootstrap
	$(PY) -m tests.bench

## Three full benchmark runs (FUNDLEDGER_BENCH_RUNS=N for another count), then the ratio
## targets of issues 11 and 12: medians as markdown (printed, and written to .bench/median-<UTC time>.md).
bench-median: bootstrap
	$(PY) -m tests.bench.median --runs $${FUNDLEDGER_BENCH_RUNS:-3}

## Locust gRPC load test: 100 users for 60 s, report in .loadtest/, exit non-zero on a gate breach.
loadtest: bootstrap
	$(PY) -m tests.load

## The restore drill (docs/operations.md): back up the event store while appends flow, restore it
## into a fresh PostgreSQL, rebuild every read model on an empty bus, compare with the original.
## FUNDLEDGER_PG_BIN_DIR=<TimescaleDB bin dir> runs it in the TimescaleDB storage mode.
restore-drill: bootstrap
	$(VENV)/bin/pytest tests/drill -q -rP
