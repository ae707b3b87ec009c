//! Argument definitions.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "faultline", version, about = "A deterministic distributed-systems simulator", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run one scenario for one seed and print a summary.
    Run(RunArgs),
    /// Run scenarios for a range of seeds in parallel into a batch directory:
    /// results.csv, timings.csv and merged histograms.
    ///
    /// Running the same command again resumes an interrupted batch. Exit
    /// codes: 0 every run passed or was unknown, 1 a run failed a check,
    /// 2 bad input.
    Batch(BatchArgs),
    /// Combine the shard directories of a batch into what one unsharded
    /// batch would have written.
    Merge(MergeArgs),
    /// Write a batch directory's report into DIR/report/: plots (SVG and PNG),
    /// summary.md and a self-contained index.html, whose path it prints.
    Report(ReportArgs),
    /// Run a batch and write its report: `batch` then `report` in one step.
    Compare(CompareArgs),
    /// Check scenario files without running them.
    Validate {
        /// Scenario files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Measure the engine: pingpong (5 nodes, 1,000 messages in flight) and other workloads.
    Bench(BenchArgs),
    /// Check a JSON history of key-value operations for linearizability.
    ///
    /// The model is the object every key holds: `register` (get, put, cas on
    /// numbers; the default), `write-once` (get, propose) or `kv` (get, put,
    /// append on strings, its own JSON format). Exit codes: 0 linearizable,
    /// 1 not linearizable, 2 bad input (also a file larger than --max-input,
    /// or an operation the model does not have), 3 unknown (the search ran
    /// out of --budget or --max-memory).
    CheckHistory {
        /// The history file (format: see README, "History format").
        file: PathBuf,
        /// The sequential model to check against [default: register].
        #[arg(long, value_enum, value_name = "MODEL")]
        model: Option<HistoryModel>,
        /// Search budget in steps; past it the verdict is "unknown".
        #[arg(long, default_value_t = 10_000_000)]
        budget: u64,
        /// Memory budget of the search, by its own deterministic estimate
        /// (the same on every machine): bytes, or a size like 384MiB or 2GiB;
        /// past it the verdict is "unknown" [default: 384MiB].
        #[arg(long, value_name = "SIZE")]
        max_memory: Option<String>,
        /// Refuse a history file larger than this: bytes, or a size like
        /// 256MiB or 1GiB [default: 256MiB].
        #[arg(long, value_name = "SIZE")]
        max_input: Option<String>,
        /// Print the verdict as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the protocols a scenario can name.
    Protocols,
    /// Hunt for a failing seed: run seeds in parallel until a check fails or
    /// the budget ends, then write a reproducer scenario.
    ///
    /// The failure reported is the lowest failing seed of the range, with any
    /// number of threads. Exit codes: 0 nothing failed, 1 a seed failed (its
    /// reproducer is written), 2 bad input.
    Explore(ExploreArgs),
    /// Minimise a failing run while it keeps failing the same check, and
    /// write the minimal reproducer.
    Shrink(ShrinkArgs),
    /// Run one scenario and seed again and show a window of it: the events as
    /// readable lines, a space-time diagram, a ShiViz log.
    Replay(ReplayArgs),
    /// Cache policies (LRU, LFU, FIFO) on request traces.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
}

#[derive(Subcommand)]
pub enum CacheCommand {
    /// Replay a trace, or a synthetic Zipf one, through cache policies at
    /// several capacities and print each one's object and byte hit ratio.
    ///
    /// Each request is a get; a miss puts the request's size. With --out, writes
    /// hit-ratios.csv and, with --mrc, mrc.csv and miss-ratio-curve plots (SVG and
    /// PNG). Exit codes: 0 done, 2 bad input.
    Replay(CacheReplayArgs),
}

/// How a cache trace file is written.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceFormatArg {
    /// CSV if the file is named *.csv or its first line names a `key` column, otherwise one key per line.
    Auto,
    /// One key per line.
    Lines,
    /// CSV with a header: `key`, and optionally `size` (bytes) and `timestamp` (seconds).
    Csv,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["trace", "zipf"])))]
pub struct CacheReplayArgs {
    /// The trace: one key per line, or CSV with a `key` column and optional `size`
    /// (bytes) and `timestamp` (seconds) columns. Keys that are not decimal
    /// numbers are hashed (FNV-1a, 64-bit).
    pub trace: Option<PathBuf>,
    /// Replay a synthetic trace instead of a file: independent requests whose keys
    /// follow a Zipf law, `alpha=A,keys=N,length=L[,seed=S]` (alpha 0 is uniform;
    /// seed 1 when left out).
    #[arg(long, value_name = "SPEC", conflicts_with = "trace")]
    pub zipf: Option<String>,
    /// The trace file's format.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "auto")]
    pub format: TraceFormatArg,
    /// Policies to replay, comma-separated: lru, lfu, fifo.
    #[arg(long = "policy", value_name = "P,...", value_delimiter = ',', default_value = "lru,lfu,fifo", value_parser = parse_policy)]
    pub policies: Vec<faultline_protocols::cache::PolicyKind>,
    /// Capacities, comma-separated: entries, or with --bytes sizes such as 64MiB.
    #[arg(long = "capacity", value_name = "C,...", value_delimiter = ',', required = true)]
    pub capacities: Vec<String>,
    /// Capacities are in bytes (each request's size counts) instead of entries.
    #[arg(long)]
    pub bytes: bool,
    /// Expire entries this long after they are written ("30s", "5m"); needs a
    /// trace with timestamps.
    #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
    pub ttl: Option<faultline_sim::Duration>,
    /// Add to each entry's TTL a jitter drawn uniformly up to this ("0s" when left out).
    #[arg(long, value_name = "DURATION", requires = "ttl", value_parser = faultline_sim::Duration::parse)]
    pub ttl_jitter: Option<faultline_sim::Duration>,
    /// Seed of the TTL jitter draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Requests at the start that fill the caches and are not counted.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub warmup: u64,
    /// Also compute each policy's miss-ratio curve, from a ten-thousandth of the
    /// largest capacity up to it (LRU in one pass from stack distances when
    /// capacities are entries and there is no TTL; the others by simulation).
    #[arg(long)]
    pub mrc: bool,
    /// Write hit-ratios.csv (and with --mrc, mrc.csv, mrc.svg and mrc.png) into DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replays at once (default: the available cores); the figures are the same with any number.
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub jobs: Option<u32>,
}

fn parse_policy(text: &str) -> Result<faultline_protocols::cache::PolicyKind, String> {
    faultline_protocols::cache::PolicyKind::parse(text)
}

fn parse_ttl(text: &str) -> Result<faultline_sim::Duration, String> {
    let d = faultline_sim::Duration::parse(text)?;
    if d.is_zero() {
        return Err("a TTL must be more than zero".to_string());
    }
    Ok(d)
}

/// What `check-history` checks a history against.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HistoryModel {
    /// A register per key: get, put, cas on numbers.
    Register,
    /// A write-once register per key: get, propose.
    WriteOnce,
    /// A string per key: get, put, append (string keys and values).
    Kv,
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// The scenario file.
    pub file: PathBuf,
    /// Seed for this run (default: the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write every event as a JSON line to this file.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Run twice and fail unless both runs have the same fingerprint.
    #[arg(long)]
    pub check_determinism: bool,
    /// Write the clients' history as JSON (the `check-history` format).
    #[arg(long, value_name = "FILE")]
    pub history_out: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The scenario file.
    pub file: PathBuf,
    /// Seed for this run (default: the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Start of the window, in virtual time ("150ms", "1.5s"; default: the start).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End of the window, included (default: the end of the run).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Print only the events of this node (`n2` or `2`) or client (`c0`): its
    /// messages, timers, role changes and the faults that strike it.
    #[arg(long, value_name = "X")]
    pub node: Option<String>,
    /// Draw the window's space-time diagram into OUT: .svg, .png or .html. At most 400
    /// messages: a longer window is cut (and the command says so).
    #[arg(long, value_name = "OUT")]
    pub diagram: Option<PathBuf>,
    /// Write the window as a ShiViz log (vector clocks) into OUT; the command prints the
    /// regular expression to paste into ShiViz.
    #[arg(long, value_name = "OUT")]
    pub shiviz: Option<PathBuf>,
    /// Give clients lifelines in the diagram and hosts in the ShiViz log (default: nodes only).
    #[arg(long)]
    pub clients: bool,
    /// Do not print the events (only the diagram and ShiViz files).
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(clap::Args)]
pub struct ExploreArgs {
    /// The scenario file.
    pub file: PathBuf,
    /// Seeds to try, in order: `A..=B`, `A..B` (B excluded) or one seed `N` (default: 1..=1000, or
    /// without end when --time is given).
    #[arg(long, value_name = "A..=B")]
    pub seeds: Option<faultline_reports::SeedRange>,
    /// Stop starting seeds after this much wall-clock time, like "60s" or "5m".
    #[arg(long, value_name = "DURATION", value_parser = parse_wall_time)]
    pub time: Option<faultline_sim::Duration>,
    /// Runs at once (default: the available cores).
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub jobs: Option<u32>,
    /// Each seed also draws its own fault mix within the scenario's bounds: which network faults
    /// and chaos kinds are on at all, their rates and their timings.
    #[arg(long)]
    pub swarm: bool,
    /// Run every seed instead of stopping at the first failure; writes a reproducer for each
    /// failing seed (the first 20).
    #[arg(long)]
    pub keep_going: bool,
    /// Where reproducer scenarios are written.
    #[arg(long, value_name = "DIR", default_value = "out/explore")]
    pub out: PathBuf,
}

#[derive(clap::Args)]
pub struct ShrinkArgs {
    /// The scenario file (an explore reproducer, say).
    pub file: PathBuf,
    /// The failing seed (default: the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where to write the minimal reproducer (default: FILE's name with `-min`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The most runs shrinking may take.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_runs: u32,
}

fn parse_wall_time(text: &str) -> Result<faultline_sim::Duration, String> {
    let d = faultline_sim::Duration::parse(text)?;
    if d.as_nanos() == 0 {
        return Err("the time budget must be more than zero".to_string());
    }
    Ok(d)
}

/// What `faultline bench` measures (see `commands::bench`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchWorkload {
    /// 5 nodes, 1,000 messages in flight (the side-by-side workload).
    Pingpong,
    /// 5 nodes, 10,000 messages in flight.
    #[value(name = "pingpong-10k")]
    Pingpong10k,
    /// 5 nodes, 1,000,000 messages in flight.
    #[value(name = "pingpong-1m")]
    Pingpong1m,
    /// One rumor pushed to 100,000 gossip nodes.
    #[value(name = "fanout-100k")]
    Fanout100k,
    /// 5-node Raft at 1,000 operations per second for a virtual minute.
    RaftThroughput,
    /// Seeds per second over Raft's chaos scenario, on one and two threads.
    Explore,
    /// Cache requests per second: 10^7 Zipf requests (alpha 0.8, 10^6 keys)
    /// through LRU, LFU and FIFO caches of 10^4 entries, on one thread.
    Cache,
    /// Every workload above, in order.
    All,
}

impl BenchWorkload {
    pub fn every() -> &'static [BenchWorkload] {
        &[
            BenchWorkload::Pingpong,
            BenchWorkload::Pingpong10k,
            BenchWorkload::Pingpong1m,
            BenchWorkload::Fanout100k,
            BenchWorkload::RaftThroughput,
            BenchWorkload::Explore,
            BenchWorkload::Cache,
        ]
    }
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Workloads to measure (repeat the flag for several); `pingpong` when none.
    #[arg(long, value_enum)]
    pub workload: Vec<BenchWorkload>,
    /// Events to run per measurement (the pingpong workloads).
    #[arg(long, default_value_t = 20_000_000)]
    pub events: u64,
    /// Measurements to take; the best is reported with the others.
    #[arg(long, default_value_t = 3)]
    pub repeat: u32,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What a batch runs and where it writes: shared by `batch` and `compare`.
#[derive(clap::Args, Clone)]
pub struct RunSet {
    /// Scenario files; results come out in this order.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Seeds to run every scenario with: `A..=B`, `A..B` (B excluded) or one seed `N`.
    #[arg(long, value_name = "A..=B")]
    pub seeds: faultline_reports::SeedRange,
    /// Runs at once (default: the available cores).
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub jobs: Option<u32>,
    /// The batch directory (the report goes into DIR/report/). Running the same command with it
    /// again resumes the batch.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(clap::Args)]
pub struct BatchArgs {
    #[command(flatten)]
    pub set: RunSet,
    /// Run only the K-th of N disjoint slices of the work (1 <= K <= N); `faultline merge`
    /// combines the slices. Without it, K is read from SLURM_ARRAY_TASK_ID (offset by
    /// SLURM_ARRAY_TASK_MIN when set) or JOB_COMPLETION_INDEX (0-based), if set.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<faultline_reports::Shard>,
    /// N for a shard index read from the environment (SLURM_ARRAY_TASK_COUNT also gives it).
    #[arg(long, value_name = "N")]
    pub shard_count: Option<u64>,
    /// Write the batch's report (as `faultline report DIR`) when the batch is done.
    #[arg(long)]
    pub report: bool,
}

#[derive(clap::Args)]
pub struct MergeArgs {
    /// Batch directories, one per shard (`faultline batch --shard K/N`).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write the merged batch.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// A batch directory (the --out of `faultline batch`, `compare` or `merge`).
    pub dir: PathBuf,
    /// A metric to compare across scenarios: a counter (a column of results.csv). Repeat it for
    /// more (default: leaderless_ms, elections, client_ok).
    #[arg(long = "metric", value_name = "NAME")]
    pub metrics: Vec<String>,
}

#[derive(clap::Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub set: RunSet,
    /// A metric to compare across scenarios (repeatable; see `faultline report --help`).
    #[arg(long = "metric", value_name = "NAME")]
    pub metrics: Vec<String>,
}
