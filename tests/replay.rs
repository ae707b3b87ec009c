//! `faultline replay`, driven through the binary on the dropped-vote scenario:
//! the readable trace shows the election and the lost vote, `--node` keeps
//! one node's events, the diagram is an SVG (or PNG, or HTML page) with the
//! messages on it, the ShiViz log's vector clocks obey the rules ShiViz
//! checks, and bad input is refused with exit code 2.

use std::collections::BTreeMap;
use std::fs;
use std::process::Output;

mod common;
use common::{assert_exit, command, path, scratch, text};

const SCENARIO: &str = "scenarios/raft/dropped-vote.toml";
/// The first election of the scenario at its seed, and the first heartbeat round.
const WINDOW: [&str; 4] = ["--from", "150ms", "--to", "220ms"];

fn faultline(args: &[&str]) -> Output {
    command(args).output().expect("run the faultline binary")
}

fn replay(extra: &[&str]) -> Output {
    let mut args = vec!["replay", SCENARIO];
    args.extend_from_slice(&WINDOW);
    args.extend_from_slice(extra);
    let out = faultline(&args);
    assert_exit(&out, 0);
    out
}

/// The event lines of a readable replay: between the column header and the
/// summary that follows them.
fn event_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("time"))
        .skip(1)
        .take_while(|l| !l.starts_with("window "))
        .collect()
}

#[test]
fn the_trace_shows_the_election_and_the_dropped_vote() {
    let out = replay(&[]);
    let stdout = text(&out.stdout);
    let lines = event_lines(&stdout);
    assert!(lines.len() > 20, "{stdout}");
    let leader = lines.iter().find(|l| l.contains(" role ") && l.contains("candidate -> leader"));
    assert!(leader.is_some_and(|l| l.contains("n4")), "n4 is elected:\n{stdout}");
    let dropped = lines.iter().find(|l| l.contains(" drop ") && l.contains("Vote #"));
    assert!(
        dropped.is_some_and(|l| l.contains("n0 -> n4") && l.contains("DROPPED (partition)")),
        "n0's vote for n4 is dropped by the cut:\n{stdout}"
    );
    // Replaying is running: the same fingerprint as `faultline run`.
    let run = text(&faultline(&["run", SCENARIO]).stdout);
    let fingerprint = |s: &str| s.lines().find(|l| l.starts_with("fingerprint")).map(str::to_string);
    assert!(fingerprint(&stdout).is_some());
    assert_eq!(fingerprint(&stdout), fingerprint(&run));
}

#[test]
fn the_node_filter_keeps_only_that_nodes_events() {
    let all = text(&replay(&[]).stdout);
    let out = replay(&["--node", "n2"]);
    let stdout = text(&out.stdout);
    let lines = event_lines(&stdout);
    assert!(lines.len() >= 6, "n2 receives a RequestVote, votes, and follows the leader:\n{stdout}");
    assert!(lines.len() < event_lines(&all).len(), "the filter leaves events out");
    for line in &lines {
        assert!(line.contains("n2"), "a line without n2 under --node n2: {line}\n{stdout}");
    }
    // `2` names the same node.
    assert_eq!(event_lines(&text(&replay(&["--node", "2"]).stdout)), lines);
}

#[test]
fn the_diagram_is_an_svg_with_the_messages_on_it() {
    let dir = scratch("replay-tests", "diagram");
    let svg = dir.join("election.svg");
    let out = replay(&["--quiet", "--diagram", path(&svg)]);
    assert!(text(&out.stdout).contains("diagram"), "{}", text(&out.stdout));
    let doc = fs::read_to_string(&svg).expect("the diagram is written");
    assert!(doc.starts_with("<svg") || doc.starts_with("<?xml"), "{}", &doc[..doc.len().min(200)]);
    assert!(doc.trim_end().ends_with("</svg>"));
    for label in ["RequestVote", "Vote dropped (partition)", "becomes candidate", "becomes leader", "n4"] {
        assert!(doc.contains(label), "the diagram shows `{label}`");
    }

    let png = dir.join("election.png");
    replay(&["--quiet", "--diagram", path(&png)]);
    let bytes = fs::read(&png).expect("the PNG is written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG file");

    let html = dir.join("election.html");
    replay(&["--quiet", "--diagram", path(&html)]);
    let page = fs::read_to_string(&html).expect("the page is written");
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<svg") && page.contains("RequestVote"));
}

/// One event of a ShiViz log.
struct LogEvent {
    host: String,
    clock: BTreeMap<String, u64>,
    event: String,
}

/// Reads a log the way ShiViz's `(?<host>\S*) (?<clock>{.*})\n(?<event>.*)`
/// does, failing on any pair of lines it would not match.
fn parse_shiviz(log: &str) -> Vec<LogEvent> {
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len() % 2, 0, "the log is pairs of lines");
    lines
        .chunks(2)
        .map(|pair| {
            let (host, clock) = pair[0].split_once(' ').unwrap_or_else(|| panic!("no host: {}", pair[0]));
            assert!(!host.is_empty() && !host.contains(char::is_whitespace), "host `{host}`");
            assert!(clock.starts_with('{') && clock.ends_with('}'), "clock `{clock}`");
            let clock: BTreeMap<String, u64> =
                serde_json::from_str(clock).unwrap_or_else(|e| panic!("clock `{clock}`: {e}"));
            LogEvent { host: host.to_string(), clock, event: pair[1].to_string() }
        })
        .collect()
}

/// `#12` in an event description.
fn message_id(event: &str) -> Option<&str> {
    event.split_whitespace().find(|w| w.starts_with('#'))
}

#[test]
fn the_shiviz_log_has_consistent_vector_clocks() {
    let dir = scratch("replay-tests", "shiviz");
    let log_path = dir.join("election.log");
    let out = replay(&["--quiet", "--shiviz", path(&log_path)]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(said.contains(r"(?<host>\S*) (?<clock>{.*})\n(?<event>.*)"), "the regex is printed:\n{said}");
    let log = fs::read_to_string(&log_path).expect("the log is written");
    let events = parse_shiviz(&log);
    assert!(events.len() > 20);

    // Each host's own entry counts its events 1, 2, 3, ...; every entry
    // names a host of the log; clocks never go back.
    let hosts: Vec<&str> = events.iter().map(|e| e.host.as_str()).collect();
    let mut last: BTreeMap<&str, &BTreeMap<String, u64>> = BTreeMap::new();
    for e in &events {
        let own = e.clock.get(&e.host).copied();
        let previous = last.get(e.host.as_str()).map_or(0, |c| c[&e.host]);
        assert_eq!(own, Some(previous + 1), "{}'s clock counts its events: {}", e.host, e.event);
        if let Some(before) = last.get(e.host.as_str()) {
            for (h, v) in before.iter() {
                assert!(e.clock.get(h).is_some_and(|now| now >= v), "{}'s clock went back: {}", e.host, e.event);
            }
        }
        assert!(e.clock.keys().all(|h| hosts.contains(&h.as_str())), "unknown host in {:?}", e.clock);
        last.insert(&e.host, &e.clock);
    }

    // A receive's clock dominates its send's.
    let sends: BTreeMap<&str, &LogEvent> = events
        .iter()
        .filter(|e| e.event.contains("] send "))
        .filter_map(|e| Some((message_id(&e.event)?, e)))
        .collect();
    let mut receives = 0;
    for r in events.iter().filter(|e| e.event.contains("] receive ")) {
        let Some(send) = message_id(&r.event).and_then(|id| sends.get(id)) else { continue };
        receives += 1;
        for (h, v) in &send.clock {
            assert!(r.clock.get(h).is_some_and(|got| got >= v), "{} does not dominate {}", r.event, send.event);
        }
        assert!(r.clock[&r.host] > send.clock.get(&r.host).copied().unwrap_or(0));
    }
    assert!(receives > 10, "receives pair with their sends");
    let vote = sends.values().find(|e| e.event.contains("send Vote") && e.host == "n0").expect("n0 votes");
    assert!(vote.event.contains("dropped at"), "the dropped vote is noted on its send: {}", vote.event);
}

#[test]
fn bad_input_is_refused_with_exit_code_2() {
    let dir = scratch("replay-tests", "bad");
    let missing_dir = dir.join("no-such-dir").join("out.svg");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["replay", "scenarios/raft/no-such-file.toml"], "no-such-file.toml"),
        (vec!["replay", SCENARIO, "--from", "5 parsecs"], "--from"),
        (vec!["replay", SCENARIO, "--to", "150"], "--to"),
        (vec!["replay", SCENARIO, "--from", "300ms", "--to", "100ms"], "before --from"),
        (vec!["replay", SCENARIO, "--from", "1h"], "after the run ends"),
        (vec!["replay", SCENARIO, "--node", "n9"], "n0 to n4"),
        (vec!["replay", SCENARIO, "--node", "leader"], "not a node"),
        (vec!["replay", SCENARIO, "--diagram", path(&missing_dir)], "does not exist"),
        (vec!["replay", SCENARIO, "--shiviz", path(&missing_dir)], "does not exist"),
        (vec!["replay", SCENARIO, "--diagram", "out.gif"], ".svg, .png or .html"),
    ];
    for (args, message) in cases {
        let out = faultline(&args);
        assert_exit(&out, 2);
        let stderr = text(&out.stderr);
        assert!(stderr.starts_with("error: ") && stderr.contains(message), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: one line: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert!(!missing_dir.exists());
}
