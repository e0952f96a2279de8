#!/usr/bin/env bash
# Regenerates libs/api/src/fundledger from protos/. Never edit the output by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
out=libs/api/src
rm -rf "$out/fundledger"
mapfile -t files < <(cd protos && find fundledger -name '*.proto' | sort)
PATH="$PWD/$VENV/bin:$PATH" "$VENV/bin/python" -m grpc_tools.protoc -I protos \
  --python_out="$out" --grpc_python_out="$out" \
  --mypy_out=quiet:"$out" --mypy_grpc_out=quiet:"$out" "${files[@]}"
# Regular packages (not namespace ones) so every import path resolves the same way.
find "$out/fundledger" -type d -exec touch {}/__init__.py \;
touch "$out/fundledger/py.typed"
