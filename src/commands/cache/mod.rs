//! `faultline cache replay`: a trace (a file, or a synthetic Zipf one)
//! through cache policies at several capacities. Prints a table of object and
//! byte hit ratios; `--out DIR` writes `hit-ratios.csv`, and with `--mrc`
//! `mrc.csv` and the miss-ratio curves as `mrc.svg` and `mrc.png` (and
//! `byte-mrc.*` when the requests have sizes).

mod plot;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use faultline_protocols::cache::mrc::{capacity_grid, sweep, Point};
use faultline_protocols::cache::trace::TraceFormat;
use faultline_protocols::cache::zipf::ZipfSpec;
use faultline_protocols::cache::{Capacity, PolicyKind, ReplayOptions, Trace, Ttl};
use faultline_reports::atomic::{create_dir, write_atomically};
use faultline_sim::Duration;

use super::{CliError, Outcome};
use crate::cli::{CacheCommand, CacheReplayArgs, TraceFormatArg};
use crate::output::{info, thousands, wall_now};

/// The most capacities one command replays (each is a replay of the trace per policy).
const MAX_CAPACITIES: usize = 256;
/// A curve spans this many factors of ten below the largest capacity…
const MRC_DECADES: u32 = 4;
/// …with this many points in each.
const MRC_POINTS_PER_DECADE: u32 = 8;

pub fn cache(command: CacheCommand) -> Result<Outcome, CliError> {
    match command {
        CacheCommand::Replay(args) => replay(&args),
    }
}

/// One capacity as the user wrote it and as the caches take it.
struct Sized {
    shown: String,
    capacity: Capacity,
}

fn replay(args: &CacheReplayArgs) -> Result<Outcome, CliError> {
    let capacities = parse_capacities(&args.capacities, args.bytes)?;
    let policies = distinct(&args.policies);
    let (trace, source) = load_trace(args)?;
    if args.warmup >= trace.len() as u64 {
        return Err(CliError::input(anyhow!(
            "--warmup {} leaves nothing to count: the trace has {} requests",
            args.warmup,
            thousands(trace.len() as u64)
        )));
    }
    let ttl = match args.ttl {
        Some(after_write) if trace.times().is_none() => {
            return Err(CliError::input(anyhow!(
                "--ttl {after_write} needs request times, and {source} has none: use a CSV trace with a `timestamp` \
                 column (seconds)"
            )));
        }
        Some(after_write) => Some(Ttl { after_write, jitter_max: args.ttl_jitter.unwrap_or(Duration::ZERO) }),
        None => None,
    };
    let options = ReplayOptions { warmup: args.warmup, ttl, jitter_seed: args.seed };
    if let Some(dir) = &args.out {
        create_dir(dir).map_err(|e| CliError::input(anyhow!("cannot write the results: {e}")))?;
    }
    let threads = args.jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |j| j as usize);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("cannot start the worker threads")
        .map_err(CliError::input)?;

    let started = wall_now();
    let given: Vec<Capacity> = capacities.iter().map(|c| c.capacity).collect();
    let points = pool.install(|| sweep(&trace, &policies, &given, &options));
    info(&format!(
        "replayed {} requests through {} policies x {} capacities in {:.2}s",
        thousands(trace.len() as u64),
        policies.len(),
        capacities.len(),
        started.elapsed().as_secs_f64()
    ));
    print!("{}", describe(&trace, &source, &options));
    print!("{}", table(&points, &capacities));
    if let Some(dir) = &args.out {
        write(dir, "hit-ratios.csv", hit_ratios_csv(&points, args.bytes).as_bytes())?;
    }
    if args.mrc {
        let started = wall_now();
        let largest = given.iter().map(|c| limit(c, args.bytes)).max().unwrap_or(1);
        let mut grid = capacity_grid(largest, MRC_DECADES, MRC_POINTS_PER_DECADE);
        grid.extend(given.iter().map(|c| limit(c, args.bytes)));
        grid.sort_unstable();
        grid.dedup();
        let grid: Vec<Capacity> = grid.into_iter().map(|c| capacity_of(c, args.bytes)).collect::<Result<_, _>>()?;
        let curve = pool.install(|| sweep(&trace, &policies, &grid, &options));
        info(&format!("miss-ratio curves: {} capacities in {:.2}s", grid.len(), started.elapsed().as_secs_f64()));
        let one_pass = options.ttl.is_none() && !args.bytes && grid.len() > 1;
        match &args.out {
            Some(dir) => {
                write(dir, "mrc.csv", mrc_csv(&curve, args.bytes, one_pass).as_bytes())?;
                let unit = if args.bytes { "bytes" } else { "entries" };
                let mut figures = vec![("mrc", plot::MissRatioCurve::objects(&curve, args.bytes, &source, unit))];
                if trace.sizes().is_some() {
                    figures.push(("byte-mrc", plot::MissRatioCurve::bytes(&curve, args.bytes, &source, unit)));
                }
                for (name, figure) in figures {
                    let rendered = faultline_reports::plot::render(&figure)
                        .map_err(|e| CliError::from(anyhow!("cannot draw {name}: {e}")))?;
                    write(dir, &format!("{name}.svg"), rendered.svg.as_bytes())?;
                    write(dir, &format!("{name}.png"), &rendered.png)?;
                }
                println!("wrote {}", dir.display());
            }
            None => print!("{}", mrc_table(&curve, &policies, args.bytes)),
        }
    } else if let Some(dir) = &args.out {
        println!("wrote {}", dir.display());
    }
    Ok(Outcome::Ok)
}

/// The policies in the order first named, each once.
fn distinct(policies: &[PolicyKind]) -> Vec<PolicyKind> {
    let mut out: Vec<PolicyKind> = Vec::new();
    for &p in policies {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

fn parse_capacities(texts: &[String], bytes: bool) -> Result<Vec<Sized>, CliError> {
    if texts.len() > MAX_CAPACITIES {
        return Err(CliError::input(anyhow!("--capacity names {} capacities; at most {MAX_CAPACITIES}", texts.len())));
    }
    let mut out: Vec<Sized> = Vec::new();
    for text in texts {
        let text = text.trim();
        let value = if bytes {
            super::check_history::parse_size(text).map_err(|e| {
                anyhow!("--capacity {text}: {e}; with --bytes a capacity is a size such as 4096, 64KiB, 512MiB or 2GB")
            })?
        } else {
            text.replace('_', "").parse::<u64>().map_err(|_| {
                anyhow!("--capacity {text}: not a whole number of entries (with --bytes, capacities are sizes)")
            })?
        };
        let capacity =
            capacity_of(value, bytes).map_err(|e| CliError::input(anyhow!("--capacity {text}: {}", e.error)))?;
        if !out.iter().any(|c| c.capacity == capacity) {
            out.push(Sized { shown: text.to_string(), capacity });
        }
    }
    Ok(out)
}

fn capacity_of(value: u64, bytes: bool) -> Result<Capacity, CliError> {
    let capacity = if bytes { Capacity::bytes(value) } else { Capacity::entries(value) };
    capacity.map_err(|e| CliError::input(anyhow!("{e}")))
}

/// The number the capacity bounds: its entries, or its bytes with `--bytes`.
fn limit(capacity: &Capacity, bytes: bool) -> u64 {
    if bytes {
        capacity.max_bytes().unwrap_or(u64::MAX)
    } else {
        u64::from(capacity.max_entries())
    }
}

fn load_trace(args: &CacheReplayArgs) -> Result<(Trace, String), CliError> {
    if let Some(spec) = &args.zipf {
        let spec = ZipfSpec::parse(spec).map_err(|e| CliError::input(anyhow!("--zipf {spec}: {e}")))?;
        let started = wall_now();
        let trace = spec.generate();
        info(&format!(
            "generated {} Zipf requests in {:.2}s",
            thousands(trace.len() as u64),
            started.elapsed().as_secs_f64()
        ));
        let source = format!("zipf alpha={},keys={},length={},seed={}", spec.alpha, spec.keys, spec.length, spec.seed);
        return Ok((trace, source));
    }
    let path: &PathBuf = args.trace.as_ref().ok_or_else(|| CliError::input(anyhow!("name a TRACE file or --zipf")))?;
    let format = match args.format {
        TraceFormatArg::Auto => TraceFormat::Auto,
        TraceFormatArg::Lines => TraceFormat::Lines,
        TraceFormatArg::Csv => TraceFormat::Csv,
    };
    let trace = Trace::read(path, format).map_err(CliError::input)?;
    Ok((trace, path.display().to_string()))
}

fn describe(trace: &Trace, source: &str, options: &ReplayOptions) -> String {
    let total_bytes: u64 = trace.sizes().map_or(trace.len() as u64, |s| s.iter().map(|&b| u64::from(b)).sum());
    let mut out = format!(
        "trace        {source}: {} requests, {} keys, {} bytes",
        thousands(trace.len() as u64),
        thousands(trace.distinct_keys() as u64),
        thousands(total_bytes)
    );
    if options.warmup > 0 {
        let _ = write!(out, "; the first {} are warm-up", thousands(options.warmup));
    }
    if let Some(ttl) = options.ttl {
        let _ =
            write!(out, "; TTL {} + jitter up to {} (seed {})", ttl.after_write, ttl.jitter_max, options.jitter_seed);
    }
    out.push('\n');
    out
}

fn table(points: &[Point], capacities: &[Sized]) -> String {
    let shown = |c: &Capacity| capacities.iter().find(|s| s.capacity == *c).map_or(String::new(), |s| s.shown.clone());
    let width = capacities.iter().map(|c| c.shown.len()).max().unwrap_or(0).max("capacity".len());
    let mut out = format!(
        "\n{:<6}  {:>width$}  {:>12}  {:>12}  {:>9}  {:>14}\n",
        "policy", "capacity", "requests", "hits", "hit ratio", "byte hit ratio"
    );
    for p in points {
        let _ = writeln!(
            out,
            "{:<6}  {:>width$}  {:>12}  {:>12}  {:>9.4}  {:>14.4}",
            p.policy.name(),
            shown(&p.capacity),
            thousands(p.stats.requests),
            thousands(p.stats.hits),
            p.stats.hit_ratio(),
            p.stats.byte_hit_ratio()
        );
    }
    out
}

fn unit(bytes: bool) -> &'static str {
    if bytes {
        "bytes"
    } else {
        "entries"
    }
}

fn hit_ratios_csv(points: &[Point], bytes: bool) -> String {
    let mut out = "policy,capacity,capacity_unit,requests,hits,hit_ratio,bytes,hit_bytes,byte_hit_ratio\n".to_string();
    for p in points {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{:.6},{},{},{:.6}",
            p.policy.name(),
            limit(&p.capacity, bytes),
            unit(bytes),
            p.stats.requests,
            p.stats.hits,
            p.stats.hit_ratio(),
            p.stats.bytes,
            p.stats.hit_bytes,
            p.stats.byte_hit_ratio()
        );
    }
    out
}

fn mrc_csv(curve: &[Point], bytes: bool, one_pass: bool) -> String {
    let mut out = "policy,capacity,capacity_unit,miss_ratio,byte_miss_ratio,method\n".to_string();
    for p in curve {
        let method = if one_pass && p.policy == PolicyKind::Lru { "stack-distance" } else { "simulation" };
        let _ = writeln!(
            out,
            "{},{},{},{:.6},{:.6},{method}",
            p.policy.name(),
            limit(&p.capacity, bytes),
            unit(bytes),
            p.stats.miss_ratio(),
            p.stats.byte_miss_ratio()
        );
    }
    out
}

/// The curve as a table, one column of miss ratios per policy.
fn mrc_table(curve: &[Point], policies: &[PolicyKind], bytes: bool) -> String {
    let mut out = format!("\nmiss ratio by capacity ({})\n{:>14}", unit(bytes), "capacity");
    for p in policies {
        let _ = write!(out, "  {:>8}", p.name());
    }
    out.push('\n');
    let per_policy = curve.len() / policies.len().max(1);
    for row in 0..per_policy {
        let _ = write!(out, "{:>14}", thousands(limit(&curve[row].capacity, bytes)));
        for column in 0..policies.len() {
            let _ = write!(out, "  {:>8.4}", curve[column * per_policy + row].stats.miss_ratio());
        }
        out.push('\n');
    }
    out
}

fn write(dir: &Path, name: &str, contents: &[u8]) -> Result<(), CliError> {
    let path = dir.join(name);
    write_atomically(&path, contents).map_err(|e| CliError::input(anyhow!("cannot write the results: {e}")))
}
