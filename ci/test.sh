#!/usr/bin/env bash
# The test command: formatting, lints, every test, a scenario smoke run, and
# a determinism check of every shipped scenario. Needs only the Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build (release)"
cargo build --release --locked
bin=target/release/faultline

step "tests"
cargo test --workspace --release --locked

step "scenario smoke run"
"$bin" run scenarios/pingpong.toml

step "bench smoke run (every workload, briefly; speed is compared outside the tests: ci/compare-peers.sh)"
"$bin" bench --workload all --events 200000 --repeat 1

step "validate every shipped scenario"
mapfile -t scenarios < <(find scenarios -name '*.toml' | sort)
"$bin" validate "${scenarios[@]}"

step "determinism of every shipped scenario"
for s in "${scenarios[@]}"; do
  # Scenarios that demonstrate a bug exit 1 (a check failed); what matters
  # here is that both runs printed the same fingerprint.
  json=$("$bin" run "$s" --check-determinism --json) || true
  if ! grep -q '"deterministic":true' <<<"$json"; then
    echo "$json"; echo "FAIL: $s is not deterministic"; exit 1
  fi
  echo "deterministic: $s"
done

step "swarm exploration of the scenarios that reach Raft's rare paths"
# Heavy-tailed and held delays, tiny snapshots, long leader pauses, slow
# disks that lose unsynced writes: each explored under --swarm (network shape
# and parameters drawn per seed). Any failing seed fails CI, with its
# reproducer in out/ci-explore.
for s in heavy-tails snapshot-storm leader-pauses chaos-disk; do
  "$bin" explore --swarm "scenarios/raft/$s.toml" --seeds 1..=300 --out out/ci-explore
done

step "swarm exploration of Paxos, Multi-Paxos, ZAB, Gossip, the gossip store and SWIM under chaos"
for s in paxos/chaos multipaxos/chaos zab/chaos gossip/chaos gossip/store-chaos swim/chaos; do
  "$bin" explore --swarm "scenarios/$s.toml" --seeds 1..=200 --out out/ci-explore
done

step "example downstream protocol"
# examples/abd is a protocol in a crate of its own, run by faultline's whole
# command line (faultline::main_with); it is a workspace member, so its
# binary lands in the workspace's target/.
exdir=examples/abd
cargo build --release --locked -p faultline-example-abd
exbin=target/release/faultline-abd
"$exbin" run "$exdir/scenarios/clean.toml"
# The bug scenario must fail its linearizability check: exit 1, nothing else.
status=0
"$exbin" run "$exdir/scenarios/bug.toml" || status=$?
if [ "$status" -ne 1 ]; then
  echo "FAIL: $exdir/scenarios/bug.toml exited $status, expected 1 (a check failed)"; exit 1
fi

step "all checks passed"
