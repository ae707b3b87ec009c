//! Replaying a window of one run: a trace sink that keeps the events of a
//! window of virtual time (and hands each to a printer as it is written), the
//! state of every process when the window opens, and a readable rendering of
//! each event. The space-time diagram ([`crate::diagram`]) and the ShiViz log
//! ([`crate::shiviz`]) are drawn from what it keeps.
//!
//! The sink reads the engine's JSON-lines trace ([`TraceLine`]) rather than
//! the engine's internals, so it sees exactly what `faultline run --trace`
//! writes. Messages are paired by the trace's message id: a send, its
//! duplication, its drop and each of its deliveries carry the same `msg`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

pub use faultline_sim::trace::TraceLine;
use faultline_sim::Time;

/// The longest message summary a readable line shows; longer ones end in "…".
pub const MAX_SUMMARY_CHARS: usize = 120;

/// The most events a window keeps for the diagram and the ShiViz log; past
/// it the rest of the window is still printed, but not kept.
pub const MAX_KEPT_EVENTS: usize = 200_000;

/// A window of virtual time, both ends included.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub from_ns: u64,
    pub to_ns: u64,
}

impl Window {
    pub const ALL: Window = Window { from_ns: 0, to_ns: u64::MAX };

    pub fn contains(&self, t_ns: u64) -> bool {
        self.from_ns <= t_ns && t_ns <= self.to_ns
    }

    /// "150ms to 215ms", or "the whole run".
    pub fn describe(&self) -> String {
        let at = |ns: u64| faultline_sim::Duration::from_nanos(ns).to_string();
        match (self.from_ns, self.to_ns) {
            (0, u64::MAX) => "the whole run".into(),
            (from, u64::MAX) => format!("{} to the end", at(from)),
            (from, to) => format!("{} to {}", at(from), at(to)),
        }
    }
}

/// What a window's sink kept.
#[derive(Debug, Default)]
pub struct Collected {
    /// Every event of the window, in trace order (up to [`MAX_KEPT_EVENTS`]).
    pub events: Vec<TraceLine>,
    /// Deliveries and drops after the window of messages sent inside it.
    pub later: Vec<TraceLine>,
    /// The role of every process that had one when the window opened
    /// (`""` while crashed).
    pub roles_at_start: BTreeMap<String, String>,
    /// Events of the window past [`MAX_KEPT_EVENTS`], printed but not kept.
    pub not_kept: u64,
    /// Events in the window (kept or not).
    pub in_window: u64,
}

impl Collected {
    /// The window's last kept event time, or `None` when nothing was kept.
    pub fn last_kept_ns(&self) -> Option<u64> {
        self.events.last().map(|e| e.t_ns)
    }
}

/// One event as the printer sees it: the record, and for a role change the
/// role the process had before.
pub struct Shown<'a> {
    pub event: &'a TraceLine,
    pub previous_role: Option<&'a str>,
}

pub type Printer = Box<dyn FnMut(Shown<'_>) + Send>;

struct State {
    window: Window,
    keep: bool,
    printer: Option<Printer>,
    collected: Collected,
    /// Current role per process, from role events (and crashes).
    roles: BTreeMap<String, String>,
    /// Messages sent in the window whose fate is not yet known.
    open: BTreeSet<u64>,
    bad_lines: u64,
}

/// Where the run's trace goes: a `Write` that parses it line by line. Wrap it
/// in a `BufWriter` (the engine writes each record in many small pieces).
pub struct ReplaySink {
    state: Arc<Mutex<State>>,
    partial: Vec<u8>,
}

/// The caller's handle on a sink's findings, for after the run.
#[derive(Clone)]
pub struct ReplayHandle {
    state: Arc<Mutex<State>>,
}

impl ReplaySink {
    /// A sink for `window`: hands every event of it to `printer`, and keeps
    /// them for drawing when `keep` is set.
    pub fn new(window: Window, keep: bool, printer: Option<Printer>) -> (ReplaySink, ReplayHandle) {
        let state = Arc::new(Mutex::new(State {
            window,
            keep,
            printer,
            collected: Collected::default(),
            roles: BTreeMap::new(),
            open: BTreeSet::new(),
            bad_lines: 0,
        }));
        (ReplaySink { state: state.clone(), partial: Vec::new() }, ReplayHandle { state })
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while printing cannot leave the state half-updated in a way
    // that matters here: take it as it is.
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ReplayHandle {
    /// What the window kept, and how many trace lines could not be read.
    pub fn take(&self) -> (Collected, u64) {
        let mut state = lock(&self.state);
        state.printer = None;
        if state.collected.in_window == 0 {
            // Nothing happened in the window: the roles are still those it
            // opened with.
            state.collected.roles_at_start = state.roles.clone();
        }
        (std::mem::take(&mut state.collected), state.bad_lines)
    }
}

impl Write for ReplaySink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut state = lock(&self.state);
        let mut rest = buf;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(end);
            rest = &tail[1..];
            if self.partial.is_empty() {
                state.line(line);
            } else {
                self.partial.extend_from_slice(line);
                let whole = std::mem::take(&mut self.partial);
                state.line(&whole);
            }
        }
        self.partial.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The `t_ns` a trace line starts with (`{"t_ns":123,...`), read without
/// parsing the line; `None` if the line is not in that shape.
fn leading_time(line: &[u8]) -> Option<u64> {
    let digits = line.strip_prefix(b"{\"t_ns\":")?;
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

impl State {
    fn line(&mut self, line: &[u8]) {
        // Most lines of a long run are outside the window: decide from the
        // time alone whether a line matters before parsing it.
        if let Some(t) = leading_time(line) {
            let wanted = if t < self.window.from_ns {
                contains(line, b"\"ev\":\"role\"") || contains(line, b"\"ev\":\"fault\"")
            } else if t > self.window.to_ns {
                !self.open.is_empty() && (contains(line, b"\"ev\":\"deliver\"") || contains(line, b"\"ev\":\"drop\""))
            } else {
                true
            };
            if !wanted {
                return;
            }
        }
        let Ok(event) = std::str::from_utf8(line).map_err(|_| ()).and_then(|l| TraceLine::parse(l).map_err(|_| ()))
        else {
            self.bad_lines += 1;
            return;
        };
        self.event(event);
    }

    fn event(&mut self, event: TraceLine) {
        let t = event.t_ns;
        if t > self.window.to_ns {
            if let Some(id) = event.msg {
                if self.open.remove(&id) {
                    self.collected.later.push(event);
                }
            }
            return;
        }
        let inside = t >= self.window.from_ns;
        if inside && self.collected.in_window == 0 {
            self.collected.roles_at_start = self.roles.clone();
        }
        // Keep every process's role current.
        let mut previous_role = None;
        if event.ev == "role" {
            if let Some(who) = &event.from {
                previous_role = Some(self.roles.insert(who.clone(), event.label.clone()).unwrap_or_default());
            }
        } else if event.ev == "fault" && event.label == "crash" {
            if let FaultScope::Nodes(nodes) = fault_scope(&event.label, &event.detail) {
                for n in nodes {
                    self.roles.insert(format!("n{n}"), String::new());
                }
            }
        }
        if !inside {
            return;
        }
        self.collected.in_window += 1;
        if let (Some(id), "send") = (event.msg, event.ev.as_str()) {
            self.open.insert(id);
        }
        if let (Some(id), "deliver" | "drop") = (event.msg, event.ev.as_str()) {
            self.open.remove(&id);
        }
        if let Some(printer) = self.printer.as_mut() {
            printer(Shown { event: &event, previous_role: previous_role.as_deref() });
        }
        if self.keep {
            if self.collected.events.len() < MAX_KEPT_EVENTS {
                self.collected.events.push(event);
            } else {
                self.collected.not_kept += 1;
            }
        }
    }
}

/// Which nodes a fault concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultScope {
    All,
    Nodes(Vec<u32>),
}

/// Reads the nodes a fault concerns from its trace record (label = kind,
/// detail = the engine's description): `crash n3 (leader)`,
/// `cut [0, 1] -> [4]`, `partition [[0, 1]] ...` (every node), `heal ...`.
pub fn fault_scope(kind: &str, detail: &str) -> FaultScope {
    match kind {
        "partition" | "heal" | "liveness" => FaultScope::All,
        "partition_oneway" => {
            let numbers = detail
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .filter_map(|s| s.parse().ok())
                .collect();
            FaultScope::Nodes(numbers)
        }
        _ => {
            // `crash n3`, `isolate n2 (leader)`, `n1 clock runs at 0.5x`,
            // `crash skipped: no node matched leader` (no node).
            let nodes = detail
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter_map(|word| word.strip_prefix('n')?.parse().ok())
                .collect();
            FaultScope::Nodes(nodes)
        }
    }
}

/// A process name as the trace writes it (`n2`, `c0`) from what a user may
/// type: `n2`, `N2`, `2` (a node), `c0`.
pub fn process_name(text: &str) -> Option<String> {
    let text = text.trim().to_ascii_lowercase();
    let (prefix, digits) = match text.strip_prefix('n') {
        Some(rest) => ("n", rest),
        None => match text.strip_prefix('c') {
            Some(rest) => ("c", rest),
            None => ("n", text.as_str()),
        },
    };
    let index: u32 = digits.parse().ok()?;
    Some(format!("{prefix}{index}"))
}

/// Whether `event` involves process `who`: it happened there, came from or
/// went to it, or (a fault) struck it.
pub fn involves(event: &TraceLine, who: &str) -> bool {
    if event.from.as_deref() == Some(who) || event.to.as_deref() == Some(who) {
        return true;
    }
    if event.ev != "fault" {
        return false;
    }
    match fault_scope(&event.label, &event.detail) {
        FaultScope::All => true,
        FaultScope::Nodes(nodes) => {
            who.strip_prefix('n').and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| nodes.contains(&n))
        }
    }
}

/// A message's fields from its `Debug` rendering, without the type name:
/// `Vote { term: 1, granted: true }` gives `term: 1, granted: true`; cut to
/// [`MAX_SUMMARY_CHARS`].
pub fn summary(detail: &str) -> String {
    let inner = match (detail.find(" { "), detail.strip_suffix(" }")) {
        (Some(open), Some(body)) if detail[..open].chars().all(|c| c.is_alphanumeric() || c == '_') => {
            &body[open + 3..]
        }
        _ => detail,
    };
    if inner.chars().count() <= MAX_SUMMARY_CHARS {
        inner.to_string()
    } else {
        format!("{}…", inner.chars().take(MAX_SUMMARY_CHARS - 1).collect::<String>())
    }
}

/// A drop record's detail split into the message and the reason the engine
/// gives in parentheses at its end: `partition`, `loss`, `crashed`,
/// `session broken`.
pub fn drop_reason(detail: &str) -> (&str, &str) {
    for reason in ["partition", "loss", "crashed", "session broken"] {
        if let Some(message) = detail.strip_suffix(&format!(" ({reason})")) {
            return (message, reason);
        }
    }
    (detail, "dropped")
}

/// One event as a readable line: its time, the process it happened at, its
/// kind and what happened.
pub struct Readable {
    pub time: String,
    pub at: String,
    pub kind: String,
    pub what: String,
}

/// Renders one event readably; `previous_role` is the role a role change
/// leaves.
pub fn readable(event: &TraceLine, previous_role: Option<&str>) -> Readable {
    let from = event.from.as_deref().unwrap_or("-");
    let to = event.to.as_deref().unwrap_or("-");
    let id = event.msg.map(|id| format!(" #{id}")).unwrap_or_default();
    let (at, what) = match event.ev.as_str() {
        "send" => (from, format!("{}{id} {from} -> {to}  {}", event.label, summary(&event.detail))),
        "deliver" => (to, format!("{}{id} {from} -> {to}  {}", event.label, summary(&event.detail))),
        "drop" => {
            let (message, reason) = drop_reason(&event.detail);
            (from, format!("{}{id} {from} -> {to}  DROPPED ({reason})  {}", event.label, summary(message)))
        }
        "duplicate" => (from, format!("{}{id} {from} -> {to}  will arrive twice", event.label)),
        "role" => {
            let what = match previous_role {
                Some(before) if !before.is_empty() => format!("{before} -> {}", event.label),
                Some(_) => format!("(restarted) -> {}", event.label),
                None => format!("-> {}", event.label),
            };
            (from, what)
        }
        "fault" => ("-", format!("{}: {}", event.label, event.detail)),
        "link_down" => (from, format!("session to {to} broken")),
        "start" => (from, "starts".to_string()),
        _ => (from, event.detail.clone()),
    };
    Readable { time: Time::from_nanos(event.t_ns).to_string(), at: at.to_string(), kind: event.ev.clone(), what }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(t: u64, ev: &str, from: &str, to: &str, msg: Option<u64>, label: &str, detail: &str) -> String {
        let mut v = serde_json::json!({ "t_ns": t, "ev": ev, "from": from, "label": label, "detail": detail });
        if !to.is_empty() {
            v["to"] = to.into();
        }
        if let Some(id) = msg {
            v["msg"] = id.into();
        }
        format!("{v}\n")
    }

    #[test]
    fn a_window_keeps_its_events_the_roles_before_it_and_later_fates() {
        let (mut sink, handle) = ReplaySink::new(Window { from_ns: 10, to_ns: 20 }, true, None);
        let trace = [
            line(0, "role", "n0", "", None, "follower", ""),
            line(5, "role", "n0", "", None, "candidate", ""),
            line(6, "send", "n0", "n1", Some(0), "Ping", "Ping { n: 1 }"),
            line(12, "deliver", "n0", "n1", Some(0), "Ping", "Ping { n: 1 }"),
            line(15, "send", "n1", "n0", Some(1), "Pong", "Pong { n: 1 }"),
            line(16, "send", "n1", "n0", Some(2), "Pong", "Pong { n: 2 }"),
            line(25, "deliver", "n1", "n0", Some(1), "Pong", "Pong { n: 1 }"),
            line(26, "send", "n1", "n0", Some(3), "Pong", "Pong { n: 3 }"),
            line(27, "drop", "n1", "n0", Some(2), "Pong", "Pong { n: 2 } (loss)"),
        ]
        .concat();
        // Written in awkward pieces, as a buffered writer may.
        for chunk in trace.as_bytes().chunks(7) {
            sink.write_all(chunk).expect("write");
        }
        let (c, bad) = handle.take();
        assert_eq!(bad, 0);
        assert_eq!(c.events.iter().map(|e| e.t_ns).collect::<Vec<_>>(), [12, 15, 16]);
        assert_eq!(c.later.iter().map(|e| (e.t_ns, e.msg)).collect::<Vec<_>>(), [(25, Some(1)), (27, Some(2))]);
        assert_eq!(c.roles_at_start.get("n0").map(String::as_str), Some("candidate"));
    }

    #[test]
    fn faults_name_their_nodes() {
        assert_eq!(fault_scope("crash", "crash n3 (leader)"), FaultScope::Nodes(vec![3]));
        assert_eq!(fault_scope("partition_oneway", "cut [0, 1] -> [4]"), FaultScope::Nodes(vec![0, 1, 4]));
        assert_eq!(
            fault_scope("partition", "partition [[0, 1]] (unlisted nodes form their own group)"),
            FaultScope::All
        );
        assert_eq!(fault_scope("clock_rate", "n12 clock runs at 0.5x"), FaultScope::Nodes(vec![12]));
        assert_eq!(fault_scope("skipped", "crash skipped: no node matched leader"), FaultScope::Nodes(vec![]));
    }

    #[test]
    fn summaries_drop_the_type_name_and_stay_short() {
        assert_eq!(
            summary("Vote { term: 1, granted: true, pre_vote: false }"),
            "term: 1, granted: true, pre_vote: false"
        );
        assert_eq!(summary("ClientReply(Ok)"), "ClientReply(Ok)");
        assert_eq!(summary(&"x".repeat(500)).chars().count(), MAX_SUMMARY_CHARS);
        assert_eq!(drop_reason("Vote { term: 1 } (session broken)"), ("Vote { term: 1 }", "session broken"));
    }

    #[test]
    fn process_names_accept_what_users_type() {
        assert_eq!(process_name("n2").as_deref(), Some("n2"));
        assert_eq!(process_name("2").as_deref(), Some("n2"));
        assert_eq!(process_name("C0").as_deref(), Some("c0"));
        assert_eq!(process_name("leader"), None);
    }
}
