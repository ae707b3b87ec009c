//! `faultline check-history`: the linearizability checker on a history from
//! anywhere, against one of three models (`--model`): `register` (the
//! default) and `write-once` read the JSON format documented in
//! `protocols/src/check/history.rs`, `kv` the string format documented in
//! `protocols/src/check/kv.rs`.
//!
//! Every input is bounded: the file is read up to `--max-input` bytes, the
//! search up to `--budget` steps and `--max-memory` bytes (by the checker's
//! own deterministic estimate), so the verdict is the same on every machine.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::anyhow;
use faultline_protocols::check::history::{History, OpKind};
use faultline_protocols::check::kv::{check_kv, KvHistory};
use faultline_protocols::check::linearizability::{check, describe_bytes, Budget, Verdict};
use faultline_protocols::check::model::check_write_once;
use faultline_protocols::check::search::SearchVerdict;

use super::{CliError, Outcome};
use crate::cli::HistoryModel;

/// The largest history file read by default: 256 MiB.
pub const DEFAULT_MAX_INPUT: u64 = 256 << 20;

/// A stream of unknown length is read in pieces of this many bytes.
const READ_CHUNK: u64 = 8 << 20;

/// A check's result, whatever the model.
struct Checked {
    operations: usize,
    /// "ok", "violation" or "unknown".
    verdict: &'static str,
    detail: String,
    keys_checked: usize,
    steps: u64,
    peak_memory: u64,
    /// The search's wall time.
    wall: std::time::Duration,
}

/// `model` is `None` when `--model` was not given (the register, with a
/// hint when the history looks like another model's). `max_memory` and
/// `max_input` are sizes as the user wrote them (`None`: the defaults,
/// [`Budget::DEFAULT_MAX_MEMORY`] and [`DEFAULT_MAX_INPUT`]).
pub fn check_history(
    file: &Path,
    model: Option<HistoryModel>,
    budget_steps: u64,
    max_memory: Option<&str>,
    max_input: Option<&str>,
    json: bool,
) -> Result<Outcome, CliError> {
    if budget_steps == 0 {
        return Err(CliError::input(anyhow!("--budget must be at least 1")));
    }
    let size = |flag: &str, given: Option<&str>, default: u64| match given {
        None => Ok(default),
        Some(text) => parse_size(text).map_err(|why| CliError::input(anyhow!("{flag} {text:?}: {why}"))),
    };
    let max_memory = size("--max-memory", max_memory, Budget::DEFAULT_MAX_MEMORY)?;
    let max_input = size("--max-input", max_input, DEFAULT_MAX_INPUT)?;
    let budget = Budget::new(budget_steps).with_max_memory(max_memory);

    let shown = file.display();
    let text = read_bounded(file, max_input)?;
    let located =
        |e: &serde_json::Error| format!("{shown}:{}:{}: {}", e.line(), e.column(), strip_position(&e.to_string()));
    let checked = match model.unwrap_or(HistoryModel::Register) {
        HistoryModel::Kv => {
            let history = KvHistory::from_json_str(&text).map_err(|e| {
                let hint = if History::from_json_str(&text).is_ok() {
                    "\n(it parses as a history of numbers: check it with --model register or --model write-once)"
                } else {
                    ""
                };
                CliError::input(anyhow!("{}{hint}", located(&e)))
            })?;
            drop(text);
            history.validate().map_err(|why| CliError::input(anyhow!("{shown}: invalid history: {why}")))?;
            let started = crate::output::wall_now();
            let report = check_kv(&history, &budget);
            let wall = started.elapsed();
            let (verdict, detail) = match report.verdict {
                SearchVerdict::Ok => ("ok", String::new()),
                SearchVerdict::Violation(v) => ("violation", v.message),
                SearchVerdict::Unknown { reason } => ("unknown", reason),
            };
            Checked {
                operations: history.ops.len(),
                verdict,
                detail,
                keys_checked: report.keys_checked,
                steps: report.steps,
                peak_memory: report.peak_memory,
                wall,
            }
        }
        numeric => {
            let history = History::from_json_str(&text).map_err(|e| {
                let hint = if model.is_none() && KvHistory::from_json_str(&text).is_ok() {
                    "\n(it parses as a key-value history of strings: check it with --model kv)"
                } else {
                    ""
                };
                CliError::input(anyhow!("{}{hint}", located(&e)))
            })?;
            drop(text);
            history.validate().map_err(|why| CliError::input(anyhow!("{shown}: invalid history: {why}")))?;
            let write_once = numeric == HistoryModel::WriteOnce;
            let foreign = history.ops.iter().enumerate().find(|(_, op)| {
                matches!(op.kind, OpKind::Propose { .. }) != write_once && !matches!(op.kind, OpKind::Get { .. })
            });
            if let Some((index, op)) = foreign {
                let (name, this, other) = match op.kind {
                    OpKind::Propose { .. } => ("a propose", "register", "write-once"),
                    OpKind::Put { .. } => ("a put", "write-once", "register"),
                    _ => ("a cas", "write-once", "register"),
                };
                return Err(CliError::input(anyhow!(
                    "{shown}: op #{index} ({op}) is {name}, which the {this} model does not have \
                     (check it with --model {other})"
                )));
            }
            let started = crate::output::wall_now();
            let report = if write_once { check_write_once(&history, &budget) } else { check(&history, &budget) };
            let wall = started.elapsed();
            let (verdict, detail) = match report.verdict {
                Verdict::Ok => ("ok", String::new()),
                Verdict::Violation(v) => ("violation", v.message),
                Verdict::Unknown { reason } => ("unknown", reason),
            };
            Checked {
                operations: history.ops.len(),
                verdict,
                detail,
                keys_checked: report.keys_checked,
                steps: report.steps,
                peak_memory: report.peak_memory,
                wall,
            }
        }
    };
    let wall = checked.wall;
    let (shown_verdict, outcome) = match checked.verdict {
        "ok" => ("linearizable", Outcome::Ok),
        "violation" => ("NOT linearizable", Outcome::CheckFailed),
        _ => ("unknown", Outcome::Unknown),
    };
    if json {
        let mut value = serde_json::json!({
            "file": shown.to_string(),
            "operations": checked.operations,
            "verdict": checked.verdict,
            "detail": checked.detail,
            "keys_checked": checked.keys_checked,
            "steps": checked.steps,
            "peak_memory_bytes": checked.peak_memory,
            "wall_time_s": wall.as_secs_f64(),
        });
        // The register's report is as it always was; other models say which.
        if let (Some(name), Some(object)) = (model_name(model), value.as_object_mut()) {
            object.insert("model".to_string(), serde_json::Value::from(name));
        }
        println!("{value}");
    } else {
        let against = model_name(model).map_or_else(String::new, |name| format!(" (model {name})"));
        println!("{shown}: {} operations: {shown_verdict}{against}", checked.operations);
        println!(
            "search: {} keys, {} steps, {:.1} MiB held at most (estimate), {:.3}s",
            checked.keys_checked,
            checked.steps,
            checked.peak_memory as f64 / (1 << 20) as f64,
            wall.as_secs_f64()
        );
        if !checked.detail.is_empty() {
            println!("{}", checked.detail);
        }
    }
    Ok(outcome)
}

/// The model's name in the output, for any model but the register.
fn model_name(model: Option<HistoryModel>) -> Option<&'static str> {
    match model {
        None | Some(HistoryModel::Register) => None,
        Some(HistoryModel::WriteOnce) => Some("write-once"),
        Some(HistoryModel::Kv) => Some("kv"),
    }
}

/// The file's text, if it holds at most `max_input` bytes; reads no more
/// than one byte past that (so `/dev/zero` or a pipe that never ends is
/// refused, not read until memory runs out).
fn read_bounded(file: &Path, max_input: u64) -> Result<String, CliError> {
    let shown = file.display();
    let too_large = || CliError::input(anyhow!("{shown}: larger than {} (--max-input)", describe_bytes(max_input)));
    let cannot_read = |e: std::io::Error| CliError::input(anyhow!("{shown}: cannot read history: {e}"));
    let mut reader = File::open(file).map_err(cannot_read)?;
    let known_len = reader.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
    if known_len.is_some_and(|len| len > max_input) {
        return Err(too_large());
    }
    let limit = max_input.saturating_add(1);
    let bytes = match known_len {
        // A regular file's length is known: one buffer of that size.
        Some(len) => {
            let mut bytes = Vec::with_capacity(len as usize + 1);
            (&mut reader).take(limit).read_to_end(&mut bytes).map_err(cannot_read)?;
            bytes
        }
        // Anything else is read in chunks, so the buffer never doubles past
        // the bound (a growing vector would hold up to twice `max_input`).
        None => {
            let mut chunks: Vec<Vec<u8>> = Vec::new();
            let mut total = 0u64;
            while total < limit {
                let mut chunk = Vec::with_capacity(READ_CHUNK.min(limit - total) as usize);
                let read = (&mut reader).take(READ_CHUNK.min(limit - total)).read_to_end(&mut chunk);
                let read = read.map_err(cannot_read)?;
                if read == 0 {
                    break;
                }
                total += read as u64;
                chunks.push(chunk);
            }
            if total > max_input {
                return Err(too_large());
            }
            chunks.concat()
        }
    };
    if bytes.len() as u64 > max_input {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|e| {
        CliError::input(anyhow!("{shown}: not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()))
    })
}

/// A size in bytes, written as a scenario's `[limits] max_memory` is (the
/// same parser): a whole number and a unit, `B`, `KiB`, `MiB`, `GiB` (powers
/// of 1024) or `KB`, `MB`, `GB` (of 1000), or a bare number of bytes; above zero.
pub fn parse_size(text: &str) -> Result<u64, String> {
    match faultline_scenario::Bytes::parse(text)?.0 {
        0 => Err("must be more than zero".to_string()),
        bytes => Ok(bytes),
    }
}

/// serde_json appends " at line L column C"; the position is already in front.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_as_scenarios_write_them() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("7B"), Ok(7));
        for bad in ["", "MiB", "12XB", "1.5GiB", "2 GiB", "-1", "0", "0MiB", "99999999999GiB", "99999999999999999999"] {
            assert!(parse_size(bad).is_err(), "{bad:?} parsed");
        }
        assert!(parse_size("2gb").unwrap_err().contains("did you mean `2GB`"));
    }
}
