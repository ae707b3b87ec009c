//! Export of a window of one run as a ShiViz log
//! (<https://distributedclocks.github.io/shiviz/>): every event of a process
//! becomes two lines, the process and its vector clock as JSON, then what
//! happened:
//!
//! ```text
//! n4 {"n0":1,"n4":3}
//! [153.024ms] receive Vote #4 from n0: term: 1, granted: true, pre_vote: false
//! ```
//!
//! ShiViz reads it with the regular expression [`SHIVIZ_REGEX`] (ShiViz's own
//! default expects the description first, so paste this one). The clocks
//! follow the textbook rule ShiViz checks: each process's own entry counts
//! its events from 1 in steps of one, a send carries the sender's clock, and
//! a receive takes the entry-wise maximum of its clock and the send's before
//! counting itself. Clocks start at zero when the window opens; a message
//! sent before the window arrives as a local event. A dropped or duplicated
//! message is noted on its send (a drop is no event of the receiver).

use std::collections::BTreeMap;

use crate::replay::{drop_reason, fault_scope, summary, FaultScope, TraceLine};

/// The regular expression that reads [`export`]'s log in ShiViz.
pub const SHIVIZ_REGEX: &str = r"(?<host>\S*) (?<clock>{.*})\n(?<event>.*)";

/// A ShiViz log and what it holds.
pub struct ShivizLog {
    pub text: String,
    pub events: usize,
    pub hosts: usize,
}

type Clock = BTreeMap<String, u64>;

fn ms(t_ns: u64) -> String {
    format!("{:.3}ms", t_ns as f64 / 1e6)
}

fn at(t_ns: u64) -> String {
    format!("[{}]", ms(t_ns))
}

/// Writes the events of a window as a ShiViz log. `later` holds fates after
/// the window of messages sent in it; `include` says which processes are
/// hosts (messages to or from the others become local events); `nodes` is
/// the node count (a partition concerns every node).
pub fn export(events: &[TraceLine], later: &[TraceLine], nodes: u32, include: impl Fn(&str) -> bool) -> ShivizLog {
    // What became of each message, for its send's description.
    let mut fates: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for e in events {
        if let Some(id) = e.msg {
            match e.ev.as_str() {
                "drop" => fates.entry(id).or_default().push(format!(
                    "dropped at {} ({})",
                    ms(e.t_ns),
                    drop_reason(&e.detail).1
                )),
                "duplicate" => fates.entry(id).or_default().push("duplicated: arrives twice".into()),
                _ => {}
            }
        }
    }
    for e in later {
        if let Some(id) = e.msg {
            let what = if e.ev == "drop" { "dropped" } else { "delivered" };
            fates.entry(id).or_default().push(format!("{what} at {}, after the window", ms(e.t_ns)));
        }
    }

    let mut clocks: BTreeMap<String, Clock> = BTreeMap::new();
    let mut sent: BTreeMap<u64, Clock> = BTreeMap::new();
    let mut text = String::new();
    let mut count = 0usize;
    let mut local = |host: &str, merge: Option<&Clock>, description: String, text: &mut String| -> Clock {
        let clock = clocks.entry(host.to_string()).or_default();
        if let Some(other) = merge {
            for (h, &v) in other {
                let mine = clock.entry(h.clone()).or_insert(0);
                *mine = (*mine).max(v);
            }
        }
        *clock.entry(host.to_string()).or_insert(0) += 1;
        let json = serde_json::to_string(&clock).unwrap_or_else(|_| "{}".into());
        text.push_str(host);
        text.push(' ');
        text.push_str(&json);
        text.push('\n');
        text.push_str(&description.replace(['\n', '\r'], " "));
        text.push('\n');
        count += 1;
        clock.clone()
    };

    for e in events {
        let from = e.from.as_deref().unwrap_or("");
        let to = e.to.as_deref().unwrap_or("");
        let stamp = at(e.t_ns);
        let id = e.msg.map(|id| format!(" #{id}")).unwrap_or_default();
        match e.ev.as_str() {
            "send" if include(from) => {
                let mut description = format!("{stamp} send {}{id} to {to}: {}", e.label, summary(&e.detail));
                if let Some(notes) = e.msg.and_then(|id| fates.get(&id)) {
                    description.push_str(&format!(" [{}]", notes.join("; ")));
                }
                let clock = local(from, None, description, &mut text);
                if let Some(id) = e.msg {
                    if include(to) {
                        sent.insert(id, clock);
                    }
                }
            }
            "deliver" if include(to) => {
                let merge = e.msg.and_then(|id| sent.get(&id));
                let origin = if merge.is_none() && include(from) { " (sent before the window)" } else { "" };
                let description =
                    format!("{stamp} receive {}{id} from {from}{origin}: {}", e.label, summary(&e.detail));
                local(to, merge, description, &mut text);
            }
            "role" if include(from) => {
                local(from, None, format!("{stamp} becomes {}", e.label), &mut text);
            }
            "timer" if include(from) => {
                local(from, None, format!("{stamp} timer {}", e.detail), &mut text);
            }
            "start" if include(from) => {
                local(from, None, format!("{stamp} starts"), &mut text);
            }
            "link_down" if include(from) => {
                local(from, None, format!("{stamp} session to {to} broken"), &mut text);
            }
            "invoke" | "complete" if include(from) => {
                local(from, None, format!("{stamp} {} {}", e.ev, e.detail), &mut text);
            }
            "fault" => {
                let struck: Vec<u32> = match fault_scope(&e.label, &e.detail) {
                    FaultScope::All => (0..nodes).collect(),
                    FaultScope::Nodes(ns) => ns,
                };
                for n in struck {
                    let host = format!("n{n}");
                    if include(&host) {
                        local(&host, None, format!("{stamp} fault {}: {}", e.label, e.detail), &mut text);
                    }
                }
            }
            // Drops and duplications are noted on their send.
            _ => {}
        }
    }
    ShivizLog { text, events: count, hosts: clocks.len() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: u64, ev: &str, from: &str, to: &str, msg: Option<u64>, label: &str) -> TraceLine {
        TraceLine {
            t_ns: t,
            ev: ev.into(),
            from: Some(from.into()),
            to: (!to.is_empty()).then(|| to.into()),
            msg,
            label: label.into(),
            detail: format!("{label} {{ n: 1 }}"),
        }
    }

    #[test]
    fn clocks_count_events_and_receives_merge_their_send() {
        let events = [
            ev(1, "send", "n0", "n1", Some(0), "Ping"),
            ev(2, "deliver", "n0", "n1", Some(0), "Ping"),
            ev(2, "send", "n1", "n0", Some(1), "Pong"),
            ev(2, "send", "n1", "n2", Some(2), "Pong"),
            ev(2, "drop", "n1", "n2", Some(2), "Pong"),
            ev(3, "deliver", "n1", "n0", Some(1), "Pong"),
        ];
        let log = export(&events, &[], 3, |_| true);
        let lines: Vec<&str> = log.text.lines().collect();
        assert_eq!(
            lines.iter().step_by(2).copied().collect::<Vec<_>>(),
            [
                r#"n0 {"n0":1}"#,
                r#"n1 {"n0":1,"n1":1}"#,
                r#"n1 {"n0":1,"n1":2}"#,
                r#"n1 {"n0":1,"n1":3}"#,
                r#"n0 {"n0":2,"n1":2}"#,
            ]
        );
        assert!(lines[7].contains("dropped"), "the drop is noted on its send: {}", lines[7]);
        assert_eq!((log.events, log.hosts), (5, 2));
    }
}
