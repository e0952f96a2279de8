#!/usr/bin/env bash
# The test command: static checks first (cheap), then the suite against real servers.
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin

echo "== protos: lint, breaking changes against the last release, drift"
$V/buf lint protos
scripts/buf_breaking.sh
scripts/gen_protos.sh
if [ -n "$(git status --porcelain -- libs/api)" ]; then
  git status --porcelain -- libs/api
  echo "generated code differs from protos/: run 'make protos' and commit" >&2; exit 1
fi

echo "== ruff"
$V/ruff check libs services tests
$V/ruff format --check libs services tests

echo "== mypy (strict)"
$V/mypy libs/platform/src libs/devstack/src libs/kernel/src libs/cli/src services/event-store/src services/projector/src services/snapshotter/src services/allocation/src services/storage/src

[ "${1:-}" = "--lint-only" ] && exit 0

echo "== pytest"
$V/pytest "$@"
