#!/usr/bin/env bash
# Footprint: crates in the normal (non-dev) dependency tree, and the clean debug build
# time of a one-line crate that depends on chatmock (this checkout, by path) vs one that
# depends on wiremock 0.6.5. Each build runs in its own fresh target directory after a
# warm-up `cargo fetch`, so downloads are not timed; builds alternate, ROUNDS times.
#
# Also builds three dependency-only crates, to show what trimming chatmock's tree would
# save (chatmock itself is not changed):
#   deps-current  chatmock's [dependencies] as they are
#   deps-trim1    without async-stream (and its syn 2), futures -> futures-util (alloc)
#   deps-trim2    hyper + hyper-util directly instead of axum (no tokio-macros, no syn)
#
# Usage: bash benches/footprint.sh [ROUNDS]   (default 1; about 65 s per round here)
set -euo pipefail

rounds=${1:-1}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d /tmp/chatmock-footprint.XXXXXX)

crate() { # name, [dependencies] lines
  mkdir -p "$work/$1/src"
  echo 'fn main() {}' >"$work/$1/src/main.rs"
  printf '[package]\nname = "fp-%s"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n%s\n' \
    "$1" "$2" >"$work/$1/Cargo.toml"
}

crate chatmock "chatmock = { path = \"$repo\" }"
crate wiremock 'wiremock = "0.6.5"'
crate deps-current 'async-stream = "0.3.6"
axum = { version = "0.8.9", default-features = false, features = ["http1", "tokio"] }
futures = { version = "0.3.31", default-features = false, features = ["std"] }
http-body-util = "0.1.3"
serde_json = "1.0"
socket2 = "0.6"
tokio = { version = "1.48", features = ["rt", "net", "time", "sync", "macros"] }'
crate deps-trim1 'axum = { version = "0.8.9", default-features = false, features = ["http1", "tokio"] }
futures-util = { version = "0.3.31", default-features = false, features = ["alloc"] }
http-body-util = "0.1.3"
serde_json = "1.0"
socket2 = "0.6"
tokio = { version = "1.48", features = ["rt", "net", "time", "sync"] }'
crate deps-trim2 'hyper = { version = "1", features = ["http1", "server"] }
hyper-util = { version = "0.1", default-features = false, features = ["tokio"] }
http-body-util = "0.1.3"
futures-util = { version = "0.3.31", default-features = false, features = ["alloc"] }
serde_json = "1.0"
socket2 = "0.6"
tokio = { version = "1.48", features = ["rt", "net", "time", "sync"] }'

names=(chatmock wiremock deps-current deps-trim1 deps-trim2)
echo "crates in the normal + build dependency tree (the crate itself included, the one-line root not):"
for name in "${names[@]}"; do
  (cd "$work/$name" && cargo fetch -q)
  count=$(cd "$work/$name" && cargo tree -e no-dev --prefix none --no-dedupe |
    sed 's/ (\*)//; s/ (proc-macro)//; s/ (\/.*)$//' | sort -u | grep -vc '^fp-')
  printf '  %-13s %3d\n' "$name" "$count"
done

echo "clean debug builds (cargo build), $rounds rounds, alternating:"
for round in $(seq 1 "$rounds"); do
  for name in "${names[@]}"; do
    rm -rf "$work/$name/target"
    load=$(cut -d' ' -f1 /proc/loadavg)
    start=$(date +%s.%N)
    (cd "$work/$name" && CARGO_TARGET_DIR="$work/$name/target" cargo build -q)
    end=$(date +%s.%N)
    printf '  round %d %-13s %6.2f s (load average before: %s)\n' \
      "$round" "$name" "$(echo "$end - $start" | bc)" "$load"
  done
done
rm -rf "$work"
