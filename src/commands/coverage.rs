//! The coverage block `run`, `batch`, `merge` and `explore` print: each
//! coverage point reached, with its hits (and over many runs, how many runs
//! reached it), then the declared points no run reached. Points are listed
//! in the order the protocol declares them; a point reached that the
//! protocol does not declare comes after, flagged as undeclared.

use faultline_protocols::ProtocolInfo;
use faultline_reports::{CoverageTally, PointTally};
use serde_json::json;

use crate::output::thousands;

/// One row of the block.
struct Row<'a> {
    point: &'a str,
    tally: PointTally,
    declared: bool,
}

/// The protocol's declaration, if the registry knows it.
pub fn declared(protocol: &str) -> Option<&'static ProtocolInfo> {
    crate::registry().find(protocol).map(|entry| entry.info)
}

/// Declared points in declaration order (a declared point no run reported
/// counts as never reached), then undeclared ones in name order.
fn rows<'a>(info: Option<&'a ProtocolInfo>, tally: &'a CoverageTally) -> Vec<Row<'a>> {
    let declared: &[faultline_protocols::CoveragePoint] = info.map_or(&[], |i| i.coverage);
    let mut rows: Vec<Row<'a>> = declared
        .iter()
        .map(|p| Row { point: p.name, tally: tally.points.get(p.name).copied().unwrap_or_default(), declared: true })
        .collect();
    rows.extend(
        tally
            .points
            .iter()
            .filter(|(name, _)| !declared.iter().any(|p| p.name == name.as_str()))
            .map(|(name, t)| Row { point: name, tally: *t, declared: info.is_none() }),
    );
    rows
}

/// Prints the block. `title` names what was counted ("200 runs of raft-chaos");
/// `per_run` adds the column of runs that reached each point.
pub fn print(info: Option<&ProtocolInfo>, tally: &CoverageTally, title: &str, per_run: bool) {
    let rows = rows(info, tally);
    if rows.is_empty() {
        println!("{:<12} no coverage points declared{title}", "coverage");
        return;
    }
    let declared = rows.iter().filter(|r| r.declared).count();
    let reached_declared = rows.iter().filter(|r| r.declared && r.tally.seeds_reached > 0).count();
    println!("{:<12} {reached_declared} of {declared} declared points reached{title}", "coverage");
    let reached: Vec<&Row> = rows.iter().filter(|r| r.tally.seeds_reached > 0).collect();
    let hits_width = reached.iter().map(|r| thousands(r.tally.hits).len()).max().unwrap_or(0).max("hits".len());
    let runs_width =
        reached.iter().map(|r| thousands(r.tally.seeds_reached).len()).max().unwrap_or(0).max("runs".len());
    if !reached.is_empty() {
        if per_run {
            println!("{:<12} {:>runs_width$}  {:>hits_width$}  point", "", "runs", "hits");
        } else {
            println!("{:<12} {:>hits_width$}  point", "", "hits");
        }
    }
    for r in &reached {
        let flag = if r.declared { "" } else { "  (undeclared)" };
        if per_run {
            println!(
                "{:<12} {:>runs_width$}  {:>hits_width$}  {}{flag}",
                "",
                thousands(r.tally.seeds_reached),
                thousands(r.tally.hits),
                r.point
            );
        } else {
            println!("{:<12} {:>hits_width$}  {}{flag}", "", thousands(r.tally.hits), r.point);
        }
    }
    let never: Vec<&str> = rows.iter().filter(|r| r.tally.seeds_reached == 0).map(|r| r.point).collect();
    if !never.is_empty() {
        let first = format!("{:<12} never reached: ", "");
        // Continuation lines line up under the first point.
        let rest = " ".repeat(first.len());
        for (i, line) in wrap(&never, NEVER_REACHED_LINE_CHARS).iter().enumerate() {
            println!("{}{line}", if i == 0 { &first } else { &rest });
        }
    }
}

/// Width a line of the never-reached list wraps at (points are never cut).
const NEVER_REACHED_LINE_CHARS: usize = 100;

/// `items` joined with ", " in lines of about `width` characters.
fn wrap(items: &[&str], width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for (i, item) in items.iter().enumerate() {
        let piece = if i + 1 < items.len() { format!("{item},") } else { item.to_string() };
        if !line.is_empty() && line.len() + 1 + piece.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&piece);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The block as JSON: every point with its figures, and the points never reached.
pub fn to_json(info: Option<&ProtocolInfo>, tally: &CoverageTally) -> serde_json::Value {
    let rows = rows(info, tally);
    let points: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let description = info.and_then(|i| i.coverage_point(r.point)).map(|p| p.description);
            json!({
                "name": r.point,
                "description": description,
                "declared": r.declared,
                "runs_reached": r.tally.seeds_reached,
                "hits": r.tally.hits,
            })
        })
        .collect();
    let never: Vec<&str> = rows.iter().filter(|r| r.tally.seeds_reached == 0).map(|r| r.point).collect();
    json!({ "runs": tally.seeds_total, "points": points, "never_reached": never })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_never_reached_list_wraps_between_points() {
        assert_eq!(wrap(&["aa", "bb", "cc"], 7), vec!["aa, bb,", "cc"]);
        assert_eq!(wrap(&["a long point"], 3), vec!["a long point"]);
        assert!(wrap(&[], 10).is_empty());
    }
}
