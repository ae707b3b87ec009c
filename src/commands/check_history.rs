//! `faultline check-history`: the linearizability checker on a history from
//! anywhere, in the JSON format documented in `protocols/src/check/history.rs`.

use std::path::Path;

use anyhow::anyhow;
use faultline_protocols::check::history::History;
use faultline_protocols::check::linearizability::{check, Budget, Verdict};

use super::{CliError, Outcome};

pub fn check_history(file: &Path, budget_steps: u64, json: bool) -> Result<Outcome, CliError> {
    let shown = file.display();
    let text =
        std::fs::read_to_string(file).map_err(|e| CliError::input(anyhow!("{shown}: cannot read history: {e}")))?;
    let history = History::from_json_str(&text).map_err(|e| {
        CliError::input(anyhow!("{shown}:{}:{}: {}", e.line(), e.column(), strip_position(&e.to_string())))
    })?;
    history.validate().map_err(|why| CliError::input(anyhow!("{shown}: invalid history: {why}")))?;
    if budget_steps == 0 {
        return Err(CliError::input(anyhow!("--budget must be at least 1")));
    }
    let started = crate::output::wall_now();
    let report = check(&history, &Budget::new(budget_steps));
    let wall = started.elapsed();
    let (verdict, detail, outcome) = match &report.verdict {
        Verdict::Ok => ("linearizable", String::new(), Outcome::Ok),
        Verdict::Violation(v) => ("NOT linearizable", v.message.clone(), Outcome::CheckFailed),
        Verdict::Unknown { reason } => ("unknown", reason.clone(), Outcome::Unknown),
    };
    if json {
        let value = serde_json::json!({
            "file": shown.to_string(),
            "operations": history.ops.len(),
            "verdict": match report.verdict { Verdict::Ok => "ok", Verdict::Violation(_) => "violation", Verdict::Unknown { .. } => "unknown" },
            "detail": detail,
            "keys_checked": report.keys_checked,
            "steps": report.steps,
            "wall_time_s": wall.as_secs_f64(),
        });
        println!("{value}");
    } else {
        println!("{shown}: {} operations: {verdict}", history.ops.len());
        println!("search: {} keys, {} steps, {:.3}s", report.keys_checked, report.steps, wall.as_secs_f64());
        if !detail.is_empty() {
            println!("{detail}");
        }
    }
    Ok(outcome)
}

/// serde_json appends " at line L column C"; the position is already in front.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}
