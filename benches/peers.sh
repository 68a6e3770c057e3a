#!/usr/bin/env bash
# chatmock against the servers a user would pick instead, side by side in one run:
#   llmposter 0.5 (crates.io, in-process), wiremock 0.6.5 (pooled MockServer::start()),
#   aimock 1.4x and mock-llm 0.1.x (npm, Node processes), and the original Flask demo
#   (PyPI flask, benches/peers/flask_demo.py).
# Installs every peer from its registry under target/peers/ (none becomes a dependency of
# chatmock, none of their code is committed: llmposter is AGPL and appears only in the
# crate generated here), builds the harness (benches/peers/*.rs) against this checkout's
# chatmock in release mode, and runs it: six figures, servers interleaved round by round,
# every peer's median as a ratio to chatmock's from the same run. See BENCHMARKS.md.
#
# Usage: bash benches/peers.sh [--quick]
#   about 5 min for the first build and installs, then about 6 min a run on a 2-core VM
#   (--quick: a few rounds of each figure, about 2 min, to check the harness;
#   --only timing,throughput,memory,first-byte,lifecycle: those figures alone).
# Needs cargo, node >= 20.15 with npm, python3 with venv, and the crates.io, npm and PyPI
# registries (or caches that hold the packages). Linux only: it reads /proc.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$repo/target/peers"
harness="$out/harness"
node_dir="$out/node"
venv="$out/venv"
work="$out/run"
mkdir -p "$harness/src" "$node_dir" "$work"
script_started=$(date +%s)

fail() { # what, why
  printf '\npeers.sh: %s failed: %s\n' "$1" "$2" >&2
  exit 1
}

for tool in cargo node npm python3; do
  command -v "$tool" >/dev/null || fail "looking for $tool" "$tool is not on PATH"
done
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=15)?0:1)' ||
  fail "checking node" "aimock needs node >= 20.15, this is $(node --version)"

echo "== the Rust harness (chatmock at $repo, llmposter, wiremock), release build"
cat >"$harness/Cargo.toml" <<EOF
[package]
name = "chatmock-peers"
version = "0.0.0"
edition = "2021"
publish = false

[[bin]]
name = "chatmock-peers"
path = "src/harness.rs"

[dependencies]
chatmock = { path = "$repo" }
# Without its defaults (OAuth, file watching, JSONPath, recording): none is on the path a
# scripted reply takes, and they would double the build.
llmposter = { version = "=0.5.0", default-features = false }
wiremock = "=0.6.5"
tokio = { version = "1.48", features = ["full"] }

[profile.release]
debug = false
EOF
# -p keeps the times, so an unchanged source does not rebuild.
cp -p "$repo"/benches/peers/*.rs "$harness/src/"
(cd "$harness" && cargo fetch -q) ||
  fail "cargo fetch (crates.io)" "could not fetch llmposter 0.5.0 / wiremock 0.6.5 and their dependencies: is the crates.io registry reachable?"
(cd "$harness" && CARGO_TARGET_DIR="$out/target" cargo build -q --release) ||
  fail "cargo build" "the harness did not build (see above)"
bin="$out/target/release/chatmock-peers"

echo "== the Node peers (npm: @copilotkit/aimock 1.4x, @dwmkerr/mock-llm 0.1.x)"
cat >"$node_dir/package.json" <<'EOF'
{
  "private": true,
  "dependencies": {
    "@copilotkit/aimock": ">=1.40.0 <1.50.0",
    "@dwmkerr/mock-llm": ">=0.1.0 <0.2.0"
  }
}
EOF
(cd "$node_dir" && npm install --no-audit --no-fund --loglevel=error >/dev/null) ||
  fail "npm install" "could not install @copilotkit/aimock and @dwmkerr/mock-llm: is the npm registry reachable?"
cp -p "$repo/benches/peers/aimock.mjs" "$node_dir/"

echo "== the Flask demo (PyPI: flask, in a venv)"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv" || fail "python3 -m venv" "no venv module?"
"$venv/bin/python" -c 'import flask' 2>/dev/null ||
  "$venv/bin/pip" install -q --disable-pip-version-check flask ||
  fail "pip install flask" "could not install flask: is the PyPI registry reachable?"

version_of_crate() { # name
  grep -A1 "^name = \"$1\"$" "$harness/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p'
}
npm_version() { # package
  node -p "require('$node_dir/node_modules/$1/package.json').version"
}
echo
echo "versions: chatmock $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')" \
  "(this checkout), llmposter $(version_of_crate llmposter), wiremock $(version_of_crate wiremock)," \
  "aimock $(npm_version @copilotkit/aimock), mock-llm $(npm_version @dwmkerr/mock-llm)," \
  "flask $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("flask"))')," \
  "node $(node --version), $("$venv/bin/python" --version)"
echo "installs and build: $(($(date +%s) - script_started)) s"
echo "load before: $(uptime)"
ps -eo pcpu,comm --sort=-pcpu | sed -n '2,6p' | tr -s ' ' | paste -sd ';' | sed 's/^/busiest before: /'
echo

run_started=$(date +%s)
PEERS_NODE_DIR="$node_dir" PEERS_PYTHON="$venv/bin/python" \
  PEERS_FLASK_APP="$repo/benches/peers/flask_demo.py" PEERS_WORK="$work" \
  "$bin" drive "$@"
echo
echo "load after: $(uptime)"
echo "peers.sh: the run took $(($(date +%s) - run_started)) s, $(($(date +%s) - script_started)) s in all"
