#!/usr/bin/env bash
# Record today's protos as a released contract: the image `make test` checks breaking changes
# against from now on (scripts/buf_breaking.sh), and a tag for the commit.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: scripts/release_protos.sh vMAJOR.MINOR.PATCH}
[[ $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "version must look like v1.2.3" >&2; exit 1; }
out="releases/protos/${version}.binpb"
[ -e "$out" ] && { echo "$out exists: a release is never rewritten" >&2; exit 1; }
scripts/buf_breaking.sh
mkdir -p releases/protos
.venv/bin/buf build protos -o "$out"
echo "wrote $out; commit it, then: git tag $version"
