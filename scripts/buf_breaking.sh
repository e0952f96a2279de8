#!/usr/bin/env bash
# The contract cannot break by accident: `buf breaking` against the newest released contract,
# kept in the repository as a buf image (releases/protos/<version>.binpb, written by
# `make release-protos`). An image rather than a git tag: a clone made without tags still checks.
# A deliberate break needs a new major package (fundledger.*.v2).
set -euo pipefail
cd "$(dirname "$0")/.."
image=$(ls releases/protos/v*.binpb 2>/dev/null | sort -V | tail -n 1)
if [ -z "$image" ]; then
  echo "buf breaking: no released contract in releases/protos/ (make release-protos VERSION=v...)" >&2
  exit 1
fi
echo "buf breaking against $(basename "$image" .binpb)"
.venv/bin/buf breaking protos --against "$image"
