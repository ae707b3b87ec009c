//! `faultline batch`: every scenario x seed on a pool of threads, into a batch
//! directory (see `faultline_reports::batch_dir`). Each finished run is
//! appended to the directory's journal at once, so an interrupted batch
//! resumes where it stopped when the same command runs again.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use anyhow::Context;
use faultline_protocols::Loaded;
use faultline_protocols::RunOptions;
use faultline_reports::runlog::JournalWriter;
use faultline_reports::{
    open_batch, pending, write_reports, Manifest, ReportError, RunRecord, RunVerdict, ScenarioFile, Shard, Tally,
    WorkItem,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use rayon::prelude::*;

use super::{CliError, Outcome};
use crate::cli::BatchArgs;
use crate::output::{info, thousands, wall_now};

/// Failures listed one per line in the summary; the rest are counted.
const MAX_FAILURES_LISTED: usize = 50;

pub fn report_error(error: ReportError) -> CliError {
    CliError { error: error.into() }
}

pub fn batch(args: &BatchArgs) -> Result<Outcome, CliError> {
    let shard = resolve_shard(args.shard, args.shard_count, |name| std::env::var(name).ok())?;
    run_set(&args.set, shard)
}

/// Runs a whole batch, or one shard of it.
pub fn run_set(args: &crate::cli::RunSet, shard: Option<Shard>) -> Result<Outcome, CliError> {
    let scenarios = load_all(&args.files)?;
    let manifest = Manifest::new(
        env!("CARGO_PKG_VERSION"),
        scenarios.iter().map(|s| ScenarioFile::new(&s.path, &s.name, s.source.as_bytes())).collect(),
        args.seeds,
        shard,
    );
    manifest.check_unambiguous().map_err(CliError::input)?;
    let work = manifest.work_list().map_err(CliError::input)?;
    let opened = open_batch(&args.out, &manifest).map_err(report_error)?;
    let runs_path = args.out.join(faultline_reports::batch_dir::RUNS_FILE);
    if opened.torn_bytes > 0 {
        info(&format!("{}: ignored a torn last line ({} bytes)", runs_path.display(), opened.torn_bytes));
    }
    let todo = pending(&work, &opened.done);
    let resumed = opened.done.len();
    let threads = args.jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |j| j as usize);
    info(&format!(
        "batch: {} runs{}, {} to do on {threads} thread{}{}",
        thousands(work.len() as u64),
        shard.map(|s| format!(" in shard {s}")).unwrap_or_default(),
        thousands(todo.len() as u64),
        if threads == 1 { "" } else { "s" },
        if resumed > 0 {
            format!(" ({} already in {})", thousands(resumed as u64), runs_path.display())
        } else {
            String::new()
        },
    ));

    let failed_before = opened.done.iter().filter(|r| r.verdict == RunVerdict::Fail).count();
    let progress = progress_bar(work.len(), resumed, failed_before);
    let state = Mutex::new(Progress { journal: opened.journal, records: opened.done, failed: failed_before });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("cannot start the worker threads")
        .map_err(CliError::from)?;
    let started = wall_now();
    let outcome = pool.install(|| {
        todo.par_iter().try_for_each(|item| {
            let record = run_one(&scenarios[item.scenario_index], *item)?;
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            state.journal.append(&record).map_err(report_error)?;
            if record.verdict == RunVerdict::Fail {
                state.failed += 1;
                progress.set_message(format!("{} failed", state.failed));
            }
            state.records.push(record);
            progress.inc(1);
            Ok::<(), CliError>(())
        })
    });
    let wall = started.elapsed();
    progress.finish_and_clear();
    outcome?;

    let mut records = state.into_inner().unwrap_or_else(PoisonError::into_inner).records;
    write_reports(&args.out, &mut records).map_err(report_error)?;
    let ran = todo.len();
    let mut header = vec![format!(
        "{} ({} scenario{}, seeds {}{})",
        args.out.display(),
        scenarios.len(),
        if scenarios.len() == 1 { "" } else { "s" },
        args.seeds,
        shard.map(|s| format!(", shard {s}")).unwrap_or_default()
    )];
    header.push(format!(
        "{} done: {} run now in {:.1}s wall ({:.1} runs/s, {threads} thread{}){}",
        thousands(records.len() as u64),
        thousands(ran as u64),
        wall.as_secs_f64(),
        ran as f64 / wall.as_secs_f64().max(1e-9),
        if threads == 1 { "" } else { "s" },
        if resumed > 0 { format!(", {} resumed", thousands(resumed as u64)) } else { String::new() }
    ));
    Ok(print_summary(&header, &records, &args.out))
}

struct Progress {
    journal: JournalWriter,
    records: Vec<RunRecord>,
    failed: usize,
}

/// The shard to run: `--shard K/N`, else an array-job index from the
/// environment (`env` looks a variable up) with N from the environment or
/// `--shard-count`; none when neither is given.
fn resolve_shard(
    shard: Option<Shard>,
    shard_count: Option<u64>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Shard>, CliError> {
    let bad = |message: String| CliError::input(anyhow::anyhow!(message));
    let number = |name: &str| -> Result<Option<u64>, CliError> {
        match env(name) {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| bad(format!("{name}={v} is not a number"))),
        }
    };
    if let Some(shard) = shard {
        if let Some(count) = shard_count.filter(|&n| n != u64::from(shard.count)) {
            return Err(bad(format!("--shard {shard} and --shard-count {count} disagree on the number of shards")));
        }
        return Ok(Some(shard));
    }
    let (index, source) = if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
        // Arrays may be numbered from 0 or 1 (`--array=0-7` or `1-8`).
        let min = number("SLURM_ARRAY_TASK_MIN")?;
        let index = match min {
            Some(min) if id >= min => id - min + 1,
            Some(min) => return Err(bad(format!("SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}"))),
            None => id,
        };
        let count = match (number("SLURM_ARRAY_TASK_COUNT")?, shard_count) {
            (Some(env_count), Some(flag)) if env_count != flag => {
                return Err(bad(format!(
                    "SLURM_ARRAY_TASK_COUNT={env_count} and --shard-count {flag} disagree on the number of shards"
                )))
            }
            (Some(n), _) | (None, Some(n)) => n,
            (None, None) => {
                return Err(bad(
                    "SLURM_ARRAY_TASK_ID is set but the number of shards is not: pass --shard-count N".to_string()
                ))
            }
        };
        ((index, count), "SLURM_ARRAY_TASK_ID")
    } else if let Some(index) = number("JOB_COMPLETION_INDEX")? {
        let Some(count) = shard_count else {
            return Err(bad(
                "JOB_COMPLETION_INDEX is set but the number of shards is not: pass --shard-count N".to_string()
            ));
        };
        ((index.saturating_add(1), count), "JOB_COMPLETION_INDEX")
    } else if let Some(count) = shard_count {
        return Err(bad(format!(
            "--shard-count {count} needs a shard index: pass --shard K/{count}, or run as an array job \
             (SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX)"
        )));
    } else {
        return Ok(None);
    };
    let shard = Shard::new(index.0, index.1).map_err(|e| bad(format!("{e} (shard index from {source})")))?;
    info(&format!("batch: shard {shard} (index from {source})"));
    Ok(Some(shard))
}

/// Loads and validates every file before anything runs; reports every bad one.
fn load_all(files: &[std::path::PathBuf]) -> Result<Vec<Loaded>, CliError> {
    let mut scenarios = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        match crate::registry().load_scenario(file) {
            Ok(s) => scenarios.push(s),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(scenarios)
    } else {
        Err(CliError::input(anyhow::anyhow!(errors.join("\n"))))
    }
}

/// One run. A panic in the run is caught and recorded as a failed run, so one
/// bad seed never stops the batch; the seed reproduces it.
fn run_one(scenario: &Loaded, item: WorkItem) -> Result<RunRecord, CliError> {
    let started = wall_now();
    let outcome = catch_unwind(AssertUnwindSafe(|| scenario.run(item.seed, RunOptions::default())));
    let wall_time_s = started.elapsed().as_secs_f64();
    match outcome {
        Ok(report) => {
            RunRecord::from_report(item.scenario_index, &scenario.path, &report, wall_time_s).map_err(report_error)
        }
        Err(payload) => {
            let message = super::hunt::panic_message(payload.as_ref());
            Ok(RunRecord::panicked(
                item.scenario_index,
                &scenario.name,
                &scenario.path,
                &scenario.protocol,
                item.seed,
                &format!("panicked: {message}"),
                wall_time_s,
            ))
        }
    }
}

/// Drawn on stderr only when it is a terminal (indicatif hides it
/// otherwise), and without colour, so NO_COLOR has nothing to turn off.
fn progress_bar(total: usize, done: usize, failed: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} runs  {rate}  ETA {eta}  {msg}") {
        let rate = |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.1} runs/s", state.per_sec());
        };
        bar.set_style(style.progress_chars("=> ").with_key("rate", rate));
    }
    bar.set_message(format!("{failed} failed"));
    bar.set_position(done as u64);
    // Runs resumed from the journal took no time now: keep them out of the rate.
    bar.reset_eta();
    bar
}

/// The batch's summary on stdout: counts, then every failure with the
/// command that reproduces it. Shared with `faultline merge`.
pub fn print_summary(header: &[String], records: &[RunRecord], dir: &Path) -> Outcome {
    let tally = Tally::of(records);
    let mut label = "batch";
    for line in header {
        println!("{label:<12} {line}");
        label = "";
    }
    println!(
        "{:<12} {} runs: pass {}  fail {}  unknown {}",
        "verdicts",
        thousands(records.len() as u64),
        thousands(tally.pass as u64),
        thousands(tally.fail as u64),
        thousands(tally.unknown as u64)
    );
    for (i, r) in tally.failures.iter().take(MAX_FAILURES_LISTED).enumerate() {
        let why = format!(
            "{} seed {}: {} {}",
            r.scenario,
            r.seed,
            r.failed_check.as_deref().unwrap_or("?"),
            one_line(r.failure_detail.as_deref().unwrap_or(""), 100)
        );
        println!(
            "{:<12} {} run {} --seed {}   # {why}",
            if i == 0 { "failures" } else { "" },
            crate::program(),
            r.file,
            r.seed
        );
    }
    if tally.failures.len() > MAX_FAILURES_LISTED {
        println!("{:<12} ... {} more", "", tally.failures.len() - MAX_FAILURES_LISTED);
    }
    for (_, scenario, protocol, tally) in faultline_reports::coverage::by_scenario(records) {
        let runs = tally.seeds_total;
        let title = format!(" in {} run{} of {scenario}", thousands(runs), if runs == 1 { "" } else { "s" });
        super::coverage::print(super::coverage::declared(&protocol), &tally, &title, true);
    }
    println!(
        "{:<12} {} (histograms in {}, coverage in {})",
        "results",
        dir.join(faultline_reports::batch_dir::RESULTS_FILE).display(),
        dir.join(faultline_reports::batch_dir::HISTOGRAMS_DIR).display(),
        dir.join(faultline_reports::batch_dir::COVERAGE_FILE).display()
    );
    if tally.fail > 0 {
        Outcome::CheckFailed
    } else {
        Outcome::Ok
    }
}

/// `text` on one line, cut to `max_chars` characters.
fn one_line(text: &str, max_chars: usize) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() <= max_chars {
        joined
    } else {
        format!("{}...", joined.chars().take(max_chars).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(shard: Option<&str>, count: Option<u64>, env: &[(&str, &str)]) -> Result<Option<String>, String> {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        resolve_shard(shard.map(|s| s.parse().unwrap()), count, |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .map(|s| s.map(|s| s.to_string()))
        .map_err(|e| e.to_string())
    }

    #[test]
    fn shard_from_flag_or_environment() {
        assert_eq!(resolve(None, None, &[]), Ok(None));
        assert_eq!(resolve(Some("2/3"), None, &[]), Ok(Some("2/3".into())));
        assert!(resolve(Some("2/3"), Some(4), &[]).is_err());
        let slurm = [("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "4")];
        assert_eq!(resolve(None, None, &slurm), Ok(Some("3/4".into())));
        let zero_based = [("SLURM_ARRAY_TASK_ID", "0"), ("SLURM_ARRAY_TASK_MIN", "0"), ("SLURM_ARRAY_TASK_COUNT", "4")];
        assert_eq!(resolve(None, None, &zero_based), Ok(Some("1/4".into())));
        assert_eq!(resolve(None, Some(5), &[("SLURM_ARRAY_TASK_ID", "5")]), Ok(Some("5/5".into())));
        assert!(resolve(None, None, &[("SLURM_ARRAY_TASK_ID", "5")]).is_err());
        assert!(resolve(None, Some(4), &[("SLURM_ARRAY_TASK_ID", "5")]).is_err());
        assert_eq!(resolve(None, Some(2), &[("JOB_COMPLETION_INDEX", "0")]), Ok(Some("1/2".into())));
        assert!(resolve(None, Some(2), &[("JOB_COMPLETION_INDEX", "2")]).is_err());
        assert!(resolve(None, None, &[("JOB_COMPLETION_INDEX", "0")]).is_err());
        assert!(resolve(None, Some(2), &[]).is_err());
        assert!(resolve(None, Some(2), &[("JOB_COMPLETION_INDEX", "x")]).is_err());
    }

    #[test]
    fn failure_details_fit_on_one_line() {
        assert_eq!(one_line("a\n  b", 10), "a b");
        assert_eq!(one_line("abcdef", 3), "abc...");
    }
}
