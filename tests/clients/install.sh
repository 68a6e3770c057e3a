#!/usr/bin/env bash
# Installs the official SDKs that tests/e2e/sdk_clients.rs drives, at the versions pinned
# here: the Python ones (tests/clients/python/requirements.txt) with pip into
# target/sdk-clients/python (or $CHATMOCK_SDK_PYTHONPATH), the Node ones
# (tests/clients/node/package-lock.json) with `npm ci` into tests/clients/node/node_modules.
#
# Idempotent and quick when nothing changed: each install leaves a stamp with the hash of
# what it installed from (and the interpreter's version), and is skipped while it matches.
# Needs python3 with pip, and node with npm.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
clients="$repo/tests/clients"

python="${CHATMOCK_PYTHON:-python3}"
python_dir="${CHATMOCK_SDK_PYTHONPATH:-$repo/target/sdk-clients/python}"
python_stamp="$python_dir/.chatmock-stamp"
want="$(sha256sum <"$clients/python/requirements.txt" | cut -d' ' -f1) $("$python" -c 'import sys; print(sys.implementation.cache_tag)')"
if [ "$(cat "$python_stamp" 2>/dev/null)" = "$want" ]; then
  echo "Python SDKs: up to date in $python_dir"
else
  echo "Python SDKs: installing into $python_dir"
  # Only a directory this script made (it has a stamp) or the default one is replaced.
  if [ -d "$python_dir" ] && [ ! -f "$python_stamp" ] && [ "$python_dir" != "$repo/target/sdk-clients/python" ]; then
    echo "$python_dir exists and was not made by $0: not replacing it" >&2
    exit 1
  fi
  rm -rf "$python_dir"
  mkdir -p "$python_dir"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$python" -m pip install --quiet --no-input \
    --root-user-action=ignore --no-warn-conflicts --target "$python_dir" \
    --requirement "$clients/python/requirements.txt"
  echo "$want" >"$python_stamp"
fi

node_dir="$clients/node"
node_stamp="$node_dir/node_modules/.chatmock-stamp"
want="$(sha256sum <"$node_dir/package-lock.json" | cut -d' ' -f1) $(node --version)"
if [ "$(cat "$node_stamp" 2>/dev/null)" = "$want" ]; then
  echo "Node SDKs: up to date in $node_dir/node_modules"
else
  echo "Node SDKs: npm ci in $node_dir"
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$node_stamp"
fi
