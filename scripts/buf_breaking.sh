#!/usr/bin/env bash
# The contract cannot break by accident: `buf breaking` against the protos of the last release
# tag (v*, highest version). A deliberate break needs a new major package (fundledger.*.v2).
set -euo pipefail
cd "$(dirname "$0")/.."
tag=$(git tag --list 'v*' --sort=-version:refname | head -n 1)
if [ -z "$tag" ]; then
  # A clone without tags (e.g. a CI checkout with --no-tags): fetch them rather than skip.
  git fetch --quiet --tags origin 2>/dev/null || true
  tag=$(git tag --list 'v*' --sort=-version:refname | head -n 1)
fi
if [ -z "$tag" ]; then
  echo "buf breaking: no release tag (v*) in this clone; fetch tags (git fetch --tags)" >&2
  exit 1
fi
echo "buf breaking against $tag"
.venv/bin/buf breaking protos --against ".git#tag=${tag},subdir=protos"
