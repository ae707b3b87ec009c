//! The linearizability checker's cost: prints figures, asserts nothing.
//!
//! ```text
//! cargo run --release -p faultline-protocols --example lincheck_bench                  # generated cases
//! cargo run --release -p faultline-protocols --example lincheck_bench -- FILE.json...  # and these histories
//! cargo run --release -p faultline-protocols --example lincheck_bench -- --write-concurrent FILE.json
//! ```
//!
//! Each case runs in a child process of its own, so one case's peak memory
//! does not hide another's, and is checked under the default [`Budget`]
//! (`--budget STEPS` and `--max-memory BYTES` change it). For each it prints
//! the operations, the verdict, the search steps, the wall time, the
//! checker's own estimate of the memory it held at most (the figure its
//! memory budget bounds) and the process's peak RSS, before the check (the
//! history being read) and after. Cases:
//!
//! - `concurrent`: 20,000 operations on one key, all concurrent (every one
//!   invoked before any completes), linearized in a random order: 40% gets,
//!   40% puts of fresh values, 20% cases (half of them swapping);
//! - `staggered`: the same operations, each concurrent with its 200
//!   neighbours in time and linearized near its completion;
//! - any history file given (the `check-history` JSON format), such as the
//!   one `faultline run protocols/examples/lincheck-raft-1000-clients.toml
//!   --history-out FILE` writes: 5 Raft nodes, 1,000 clients, 20 s.
//!
//! `--write-concurrent FILE` writes the `concurrent` history as JSON, for
//! `faultline check-history` (under `/usr/bin/time -v`, say).

use std::process::Command;

use faultline_protocols::check::history::{History, OpKind, Operation, Outcome};
use faultline_protocols::check::linearizability::{check, describe_bytes, Budget, Verdict};

const GENERATED: [&str; 2] = ["concurrent", "staggered"];
const OPS: u64 = 20_000;

/// SplitMix64: the generated histories are the same on every run.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// `OPS` operations on key 0, one per client. `window`: how many
/// neighbours (in invocation order) each overlaps; `None`: all of them.
/// Outcomes come from applying the operations to a register in a
/// linearization order that fits the intervals, so the history is
/// linearizable.
fn generate(window: Option<u64>) -> History {
    let mut rng = Rng(0x11ce_c4ec);
    let n = OPS;
    // Op i is invoked at i·10 ns and completes after `span` ns: with `span`
    // past the last invocation, every op overlaps every other.
    let span = window.map_or(10 * n + 10, |w| 10 * w);
    let mut ops: Vec<Operation> = (0..n)
        .map(|i| Operation {
            client: i as u32,
            invoke_ns: 10 * i,
            complete_ns: Some(10 * i + span),
            kind: OpKind::Get { key: 0 },
            outcome: Outcome::Failed,
            at: None,
            sync: false,
        })
        .collect();
    // Linearization order: all concurrent, any order fits, so a random
    // one; staggered, each op's point is somewhere in its interval.
    let mut order: Vec<(u64, u64)> = match window {
        None => (0..n).map(|i| (rng.next_u64(), i)).collect(),
        Some(_) => (0..n).map(|i| (ops[i as usize].invoke_ns + rng.below(span + 1), i)).collect(),
    };
    order.sort_unstable();
    let mut register: Option<u64> = None;
    let mut next_value = 1u64;
    for &(_, i) in &order {
        let op = &mut ops[i as usize];
        let (kind, outcome) = match rng.below(10) {
            0..=3 => (OpKind::Get { key: 0 }, Outcome::Read { value: register }),
            4..=7 => {
                next_value += 1;
                register = Some(next_value);
                (OpKind::Put { key: 0, value: next_value }, Outcome::Written)
            }
            _ => {
                next_value += 1;
                let swap = register.is_some() && rng.below(2) == 0;
                // A cas that does not swap expects an older value.
                let current = register.unwrap_or(0);
                let expected = if swap { current } else { current.saturating_sub(1).max(1) };
                if swap {
                    register = Some(next_value);
                }
                (OpKind::Cas { key: 0, expected, new: next_value }, Outcome::Cas { swapped: swap })
            }
        };
        op.kind = kind;
        op.outcome = outcome;
    }
    History { ops }
}

fn history_of(case: &str) -> History {
    match case {
        "concurrent" => generate(None),
        "staggered" => generate(Some(200)),
        file => {
            let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
            History::from_json_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
        }
    }
}

/// Peak resident memory of this process so far, from /proc (Linux).
fn peak_rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: Option<u64> = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .and_then(|line| line.split_whitespace().nth(1)?.parse().ok());
    kib.map_or_else(|| "?".to_string(), |kib| mib(kib * 1024))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

#[allow(clippy::disallowed_methods)] // a benchmark measures wall time
fn wall_now() -> std::time::Instant {
    std::time::Instant::now()
}

fn run_case(case: &str, budget: &Budget) {
    let history = history_of(case);
    let rss_before = peak_rss();
    let started = wall_now();
    let report = check(&history, budget);
    let wall = started.elapsed();
    let verdict = match &report.verdict {
        Verdict::Ok => "linearizable".to_string(),
        Verdict::Violation(v) => format!("NOT linearizable (key {})", v.key),
        Verdict::Unknown { reason } => format!("unknown: {reason}"),
    };
    println!("{case}");
    println!("  operations   {}", history.ops.len());
    println!("  verdict      {verdict}");
    println!("  steps        {} (budget {})", report.steps, budget.max_steps);
    println!("  wall time    {:.3}s", wall.as_secs_f64());
    println!(
        "  memory       {} held at most, estimated (budget {})",
        mib(report.peak_memory),
        describe_bytes(budget.max_memory)
    );
    println!("  peak RSS     {} (the whole process; {rss_before} before the check)", peak_rss());
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut budget = Budget::default();
    let mut cases: Vec<String> = Vec::new();
    let mut child = false;
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--budget" => budget.max_steps = value().parse().expect("--budget STEPS"),
            "--max-memory" => budget.max_memory = value().parse().expect("--max-memory BYTES"),
            "--write-concurrent" => {
                let file = value();
                let json = generate(None).to_json_string().expect("serializes");
                std::fs::write(&file, json).unwrap_or_else(|e| panic!("{file}: {e}"));
                println!("wrote {OPS} concurrent operations to {file}");
                return;
            }
            "--case" => {
                child = true;
                cases.push(value());
            }
            _ => cases.push(arg),
        }
    }
    if child {
        cases.iter().for_each(|case| run_case(case, &budget));
        return;
    }
    let me = std::env::current_exe().expect("the example's own path");
    for case in GENERATED.iter().map(|c| c.to_string()).chain(cases) {
        let status = Command::new(&me)
            .args(["--case", &case, "--budget", &budget.max_steps.to_string()])
            .args(["--max-memory", &budget.max_memory.to_string()])
            .status()
            .expect("run a case in a child process");
        if !status.success() {
            eprintln!("case {case} failed: {status}");
            std::process::exit(1);
        }
    }
}
