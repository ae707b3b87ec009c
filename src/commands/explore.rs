//! `faultline explore`: runs seeds in parallel until a check fails or the
//! budget ends, and writes a self-contained reproducer for what it finds.
//!
//! Seeds are handed out in increasing order and a failure stops only the
//! seeds above it, so the failure reported is the lowest failing seed of the
//! range whatever the thread count: `-j1` and `-j8` find the same seed.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use faultline_protocols::Loaded;
use faultline_reports::CoverageTally;
use faultline_scenario::edit::Value;
use faultline_scenario::edit::{exact_duration, swarm, toml_value, ScenarioDoc, SwarmMix};
use faultline_scenario::ParamRange;

use super::hunt::{check_seed, expected_fingerprint, run_caught, write_reproducer, Failed, MAX_SEED};
use super::run::load;
use super::{CliError, Outcome};
use crate::cli::ExploreArgs;
use crate::output::{info, thousands, wall_now};

/// Seeds tried when neither `--seeds` nor `--time` bounds the search.
pub const DEFAULT_SEEDS: u64 = 1_000;
/// Failing seeds kept (the lowest ones), listed and given a reproducer; the
/// count of failures is always complete. Keeps `--keep-going` over millions
/// of seeds in bounded memory.
pub const MAX_REPRODUCERS: usize = 20;

/// A failing seed and what is needed to write its reproducer.
struct Found {
    seed: u64,
    failed: Failed,
    /// `None` when the run panicked.
    fingerprint: Option<String>,
    /// The seed's drawn scenario (with `--swarm`).
    drawn: Option<(ScenarioDoc, SwarmMix)>,
}

/// The scenario one seed runs: the file's own, or with `--swarm` the file
/// with this seed's fault mix written out.
fn scenario_for(
    base: &Loaded,
    seed: u64,
    use_swarm: bool,
) -> Result<(Loaded, Option<(ScenarioDoc, SwarmMix)>), CliError> {
    if !use_swarm {
        return Ok((base.clone(), None));
    }
    let (doc, mix) = swarm(base, seed).map_err(|e| CliError::input(anyhow::anyhow!("{}: {e}", base.path)))?;
    let scenario = crate::registry().parse_scenario(&doc.text(), &base.path).map_err(|e| {
        CliError::from(anyhow::anyhow!("seed {seed}'s swarm mix does not load (a bug in faultline): {e}"))
    })?;
    Ok((scenario, Some((doc, mix))))
}

pub fn explore(args: &ExploreArgs) -> Result<Outcome, CliError> {
    let base = load(&args.file)?;
    if args.swarm {
        check_swarm_params(&base)?;
    }
    let threads = args.jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |j| j as usize);
    let (first, last) = match (&args.seeds, args.time) {
        (Some(range), _) => (range.first, range.last),
        (None, Some(_)) => (1, MAX_SEED),
        (None, None) => (1, DEFAULT_SEEDS),
    };
    check_seed(last)?;
    let budget = args.time.map(|t| std::time::Duration::from_nanos(t.as_nanos()));
    let started = wall_now();

    let next = AtomicU64::new(first);
    // The lowest failing seed so far: seeds above it are not started.
    let stop_above = AtomicU64::new(u64::MAX);
    let out_of_time = AtomicBool::new(false);
    let finished = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let failures = AtomicU64::new(0);
    let found: Mutex<Vec<Found>> = Mutex::new(Vec::new());
    // Over every seed tried; the order seeds finish in does not matter, as
    // the tally only adds.
    let coverage: Mutex<CoverageTally> = Mutex::new(CoverageTally::default());
    let error: Mutex<Option<CliError>> = Mutex::new(None);

    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| loop {
                    if budget.is_some_and(|b| started.elapsed() >= b) {
                        out_of_time.store(true, Ordering::Relaxed);
                        return;
                    }
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    let stop = if args.keep_going { u64::MAX } else { stop_above.load(Ordering::Relaxed) };
                    if seed > last || seed > stop || seed < first || error_is_set(&error) {
                        return;
                    }
                    let ran = scenario_for(&base, seed, args.swarm)
                        .and_then(|(scenario, drawn)| run_caught(&scenario, seed).map(|ran| (ran, drawn)));
                    match ran {
                        Ok((ran, drawn)) => {
                            match &ran.report {
                                Some(report) => lock(&coverage).add_run(&report.coverage),
                                None => lock(&coverage).add_run(&Default::default()),
                            }
                            if let Some(failed) = ran.failed.clone() {
                                failures.fetch_add(1, Ordering::Relaxed);
                                stop_above.fetch_min(seed, Ordering::Relaxed);
                                let fingerprint = expected_fingerprint(&ran);
                                let mut found = lock(&found);
                                found.push(Found { seed, failed, fingerprint, drawn });
                                if found.len() > MAX_REPRODUCERS {
                                    found.sort_by_key(|f| f.seed);
                                    found.truncate(MAX_REPRODUCERS);
                                }
                            }
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            lock(&error).get_or_insert(e);
                            return;
                        }
                    }
                })
            })
            .collect();
        scope.spawn(|| progress(&done, &failures, &finished, started));
        for w in workers {
            let _ = w.join();
        }
        finished.store(true, Ordering::Relaxed);
    });
    if let Some(e) = lock(&error).take() {
        return Err(e);
    }

    let elapsed = started.elapsed().as_secs_f64();
    let tried = done.load(Ordering::Relaxed);
    let mut found = std::mem::take(&mut *lock(&found));
    found.sort_by_key(|f| f.seed);
    if !args.keep_going {
        found.truncate(1);
    }
    let seeds_text =
        if args.seeds.is_none() && args.time.is_some() { format!("from {first}") } else { format!("{first}..={last}") };
    let mode = if args.swarm { "  swarm" } else { "" };
    println!("explore      {}  seeds {seeds_text}  {threads} thread(s){mode}", args.file.display());
    let rate = tried as f64 / elapsed.max(1e-9);
    let ended = if out_of_time.load(Ordering::Relaxed) { " (time budget reached)" } else { "" };
    let result = match (found.first(), args.keep_going) {
        (None, _) => "no failure".to_string(),
        (Some(f), false) => format!("first failure at seed {} ({} up to it)", f.seed, seeds(f.seed - first + 1)),
        (Some(_), true) => {
            let n = failures.load(Ordering::Relaxed);
            format!("{} failing seed{}", thousands(n), if n == 1 { "" } else { "s" })
        }
    };
    println!("tried        {} in {elapsed:.1}s ({rate:.1} seeds/s){ended}: {result}", seeds(tried));
    let coverage = std::mem::take(&mut *lock(&coverage));
    let title = format!(" in {}", seeds(coverage.seeds_total));
    super::coverage::print(super::coverage::declared(&base.protocol), &coverage, &title, true);

    for f in &found {
        println!("failure      seed {}: {}", f.seed, f.failed.describe());
        if let Some((_, mix)) = &f.drawn {
            println!("mix          {}", mix.describe());
        }
        reproduce(args, &base, f)?;
    }
    let failing = failures.load(Ordering::Relaxed);
    if args.keep_going && failing > found.len() as u64 {
        info(&format!(
            "the lowest {} of {} failing seeds are listed, each with a reproducer",
            found.len(),
            thousands(failing)
        ));
    }
    Ok(if found.is_empty() { Outcome::Ok } else { Outcome::CheckFailed })
}

/// Refuses `[swarm.params]` values the protocol would refuse, before any
/// seed runs: each range's ends and each listed value is written into
/// `[params]` and the scenario loaded, so a bad bound is reported once, with
/// the protocol's own message, rather than as a failure of some seed.
fn check_swarm_params(base: &Loaded) -> Result<(), CliError> {
    for p in &base.swarm.params {
        let key = &p.name;
        let values: Vec<Value> = match &p.range {
            ParamRange::Int { min, max } => vec![Value::from(*min), Value::from(*max)],
            ParamRange::Duration { min, max } => {
                vec![Value::from(exact_duration(*min)), Value::from(exact_duration(*max))]
            }
            ParamRange::OneOf(values) => values.iter().map(toml_value).collect(),
        };
        for v in values {
            let mut doc = ScenarioDoc::from_scenario(base);
            doc.set_param(key, v.clone());
            if let Err(e) = crate::registry().parse_scenario(&doc.text(), &base.path) {
                return Err(CliError::input(anyhow::anyhow!(
                    "{}:{}:{}: `swarm.params.{key}` allows {key} = {}, which the protocol refuses: {}",
                    base.path,
                    p.line,
                    p.column,
                    v.to_string().trim(),
                    e.message
                )));
            }
        }
    }
    Ok(())
}

/// "1 seed", "2,000 seeds".
fn seeds(n: u64) -> String {
    format!("{} seed{}", thousands(n), if n == 1 { "" } else { "s" })
}

fn error_is_set(error: &Mutex<Option<CliError>>) -> bool {
    lock(error).is_some()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The reproducer's path: `OUT/STEM-seedN.toml`.
fn reproducer_path(out: &Path, file: &Path, seed: u64) -> PathBuf {
    let stem = file.file_stem().map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
    out.join(format!("{stem}-seed{seed}.toml"))
}

/// Writes the seed's scenario with every random choice written out, checks
/// that plain `faultline run` of it fails the same way, and says so.
fn reproduce(args: &ExploreArgs, base: &Loaded, f: &Found) -> Result<(), CliError> {
    let mut doc = match &f.drawn {
        Some((doc, _)) => doc.clone(),
        None => {
            let mut doc = ScenarioDoc::from_scenario(base);
            doc.write_out_chaos(base.chaos.as_ref(), base.nodes, base.duration, f.seed)
                .map_err(|e| CliError::input(anyhow::anyhow!("{}: {e}", base.path)))?;
            doc
        }
    };
    let command = format!(
        "{} explore {}{} (seed {})",
        crate::program(),
        if args.swarm { "--swarm " } else { "" },
        args.file.display(),
        f.seed
    );
    let mut header = vec![format!("Reproducer written by `{command}`: fails {}.", f.failed.name())];
    if let Some((_, mix)) = &f.drawn {
        header.push(format!("Fault mix drawn for this seed: {}.", mix.describe()));
    }
    if base.chaos.is_some() {
        header.push("The [chaos] section is written out as the explicit [[faults]] it drew for this seed.".into());
    }
    doc.set_header(&header);
    doc.set_seed(f.seed);
    doc.set_expect("fail", Some(&f.failed.check), f.fingerprint.as_deref());
    let path = reproducer_path(&args.out, &args.file, f.seed);
    let again = write_reproducer(&doc, &path)?;
    let fingerprint = f.fingerprint.as_deref().unwrap_or("-");
    match &again.failed {
        Some(failed) if failed.same_as(&f.failed) && again.fingerprint() == fingerprint => {
            println!("reproducer   {} fails again: {}, fingerprint {fingerprint}", path.display(), failed.name())
        }
        _ => {
            let _ = std::fs::remove_file(&path);
            return Err(CliError::from(anyhow::anyhow!(
                "the reproducer {} does not fail as seed {} did (fingerprint {} instead of {fingerprint}): a bug in \
                 faultline",
                path.display(),
                f.seed,
                again.fingerprint(),
            )));
        }
    }
    println!("             run it: {} run {}", crate::program(), path.display());
    println!("             shrink it: {} shrink {} --seed {}", crate::program(), path.display(), f.seed);
    Ok(())
}

/// The progress line on stderr: redrawn in place on a terminal, a line every
/// few seconds otherwise (logs).
fn progress(done: &AtomicU64, failures: &AtomicU64, finished: &AtomicBool, started: std::time::Instant) {
    let terminal = std::io::stderr().is_terminal();
    let every = if terminal { 250 } else { 5_000 };
    let mut waited = 0;
    let mut drew = false;
    while !finished.load(Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(50));
        waited += 50;
        if waited < every {
            continue;
        }
        waited = 0;
        let n = done.load(Ordering::Relaxed);
        let secs = started.elapsed().as_secs_f64();
        let line = format!(
            "explore: {} seeds  {:.1} seeds/s  {} failure(s)  {secs:.0}s",
            thousands(n),
            n as f64 / secs.max(1e-9),
            failures.load(Ordering::Relaxed)
        );
        let mut err = std::io::stderr().lock();
        let _ = if terminal { write!(err, "\r{line}\x1b[K") } else { writeln!(err, "{line}") };
        drew = true;
    }
    if drew && terminal {
        let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
    }
}
