#!/usr/bin/env bash
# faultline's speed beside a bare event loop (the floor), turmoil and SimPy,
# on one workload (pingpong: 5 nodes, 1,000 messages in flight, latency
# uniform 1-2 ms), in interleaved rounds so the ratios hold on a machine
# whose speed drifts. Not part of the test run. Builds what it needs:
# faultline (release), benches/peers (the floor and turmoil) and a Python
# virtual environment with SimPy under target/ (SimPy is skipped, and said
# so, when python3 or its venv module is missing).
#
# Usage: ci/compare-peers.sh [ROUNDS]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
case $rounds in ''|*[!0-9]*|0) echo "usage: ci/compare-peers.sh [ROUNDS] (a whole number of at least 1)" >&2; exit 2;; esac

cargo build --release --locked --quiet
fl=target/release/faultline
CARGO_TARGET_DIR=target/peers cargo build --release --quiet --manifest-path benches/peers/Cargo.toml
peers=target/peers/release

venv=target/peers-venv
simpy=""
if [ -x "$venv/bin/python" ] || { command -v python3 >/dev/null && python3 -m venv "$venv" >/dev/null 2>&1 \
    && "$venv/bin/pip" install --quiet "simpy==4.1.1"; }; then
  simpy="$venv/bin/python benches/peers/simpy_pingpong.py"
else
  echo "note: no python3 with venv here; SimPy is left out" >&2
fi

rate() { sed -n 's/.*events_per_s=\([0-9]*\).*/\1/p'; }
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for r in $(seq 1 "$rounds"); do
  f=$("$fl" bench --events 10000000 --repeat 1 --json | sed -n 's/.*"best_events_per_sec":\([0-9.]*\).*/\1/p')
  b=$("$peers/floor" 5 1000 10000000 | rate)
  t=$("$peers/turmoil_pingpong" 5 1000 2000000 | rate)
  s=0
  [ -n "$simpy" ] && s=$($simpy 5 1000 500000 | rate)
  echo "$r $f $b $t $s" >> "$results"
  awk -v r="$r" -v f="$f" -v b="$b" -v t="$t" -v s="$s" 'BEGIN {
    printf "round %d: faultline %.2fM/s  floor %.2fM/s  turmoil %.2fM/s", r, f/1e6, b/1e6, t/1e6
    if (s > 0) printf "  simpy %.3fM/s", s/1e6
    printf "  ->  %.2fx floor, %.1fx turmoil", f/b, f/t
    if (s > 0) printf ", %.0fx simpy", f/s
    printf "\n" }'
done

# The table: each engine's median events/s and faultline's median ratio to it.
awk '
  function median(a, n,   i, j, x) {
    for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j+1] = a[j]; a[j+1] = x }
    return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
  }
  { n++; f[n] = $2; b[n] = $3; t[n] = $4; s[n] = $5; rb[n] = $2/$3; rt[n] = $2/$4; if ($5 > 0) rs[n] = $2/$5 }
  END {
    printf "\n| pingpong, %d rounds | events/s (median) | faultline / it (median) |\n|---|---|---|\n", n
    printf "| faultline | %.2f M | - |\n", median(f, n) / 1e6
    printf "| floor (bare heap loop) | %.2f M | %.2fx |\n", median(b, n) / 1e6, median(rb, n)
    printf "| turmoil 0.7 | %.2f M | %.1fx |\n", median(t, n) / 1e6, median(rt, n)
    if (s[1] > 0) printf "| SimPy 4.1 | %.3f M | %.0fx |\n", median(s, n) / 1e6, median(rs, n)
  }' "$results"
