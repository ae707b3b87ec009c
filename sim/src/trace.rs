//! The trace: every event of a run feeds a 64-bit fingerprint, and, when a
//! sink is attached, is written as one JSON line. Same scenario and seed ⇒ same
//! fingerprint, on any machine and with any thread count.

use std::hash::{Hash, Hasher};
use std::io::Write;

use crate::process::Addr;
use crate::rng::mix64;
use crate::time::Time;

/// A platform-independent hasher for message contents. `usize` is widened to
/// 64 bits so 32- and 64-bit hosts agree.
#[derive(Default)]
pub struct StableHasher(u64);

impl Hasher for StableHasher {
    fn finish(&self) -> u64 {
        mix64(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_u8(&mut self, x: u8) {
        self.write_u64(u64::from(x));
    }
    fn write_u16(&mut self, x: u16) {
        self.write_u64(u64::from(x));
    }
    fn write_u32(&mut self, x: u32) {
        self.write_u64(u64::from(x));
    }
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
    fn write_i64(&mut self, x: i64) {
        self.write_u64(x as u64);
    }
}

pub fn stable_hash<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = StableHasher::default();
    value.hash(&mut h);
    h.finish()
}

/// The kinds of traced events.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum EventKind {
    Send = 1,
    Deliver = 2,
    Drop = 3,
    Duplicate = 4,
    Timer = 5,
    Fault = 6,
    Invoke = 7,
    Complete = 8,
    Role = 9,
    LinkDown = 10,
    Start = 11,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Send => "send",
            EventKind::Deliver => "deliver",
            EventKind::Drop => "drop",
            EventKind::Duplicate => "duplicate",
            EventKind::Timer => "timer",
            EventKind::Fault => "fault",
            EventKind::Invoke => "invoke",
            EventKind::Complete => "complete",
            EventKind::Role => "role",
            EventKind::LinkDown => "link_down",
            EventKind::Start => "start",
        }
    }
}

fn addr_word(a: Addr) -> u64 {
    match a {
        Addr::Node(n) => u64::from(n.0),
        Addr::Client(c) => (1 << 32) | u64::from(c.0),
    }
}

/// One traced record, as written to the JSON-lines trace.
#[derive(serde::Serialize)]
pub struct TraceRecord<'a> {
    pub t_ns: u64,
    pub ev: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The message id of a send, deliver, drop or duplicate record: the
    /// index of the send in the run (0, 1, 2, ...), shared by every record of
    /// that message — its drop, its duplication and each delivery (a
    /// duplicated message is delivered twice under the same id). Only the
    /// sink carries it: it is a function of the run, so the fingerprint does
    /// not need it and keeps its value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<u64>,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub label: &'a str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// A record read back from a JSON-lines trace: the owned twin of
/// [`TraceRecord`], for tools that replay a run's trace.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct TraceLine {
    pub t_ns: u64,
    pub ev: String,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub msg: Option<u64>,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub detail: String,
}

impl TraceLine {
    /// Parses one line of a trace.
    pub fn parse(line: &str) -> Result<TraceLine, serde_json::Error> {
        serde_json::from_str(line)
    }
}

pub struct Trace {
    state: u64,
    sink: Option<Box<dyn Write + Send>>,
    write_error: Option<std::io::Error>,
}

impl Trace {
    pub fn new(sink: Option<Box<dyn Write + Send>>) -> Trace {
        Trace { state: 0x243f_6a88_85a3_08d3, sink, write_error: None }
    }

    pub fn is_writing(&self) -> bool {
        self.sink.is_some()
    }

    #[inline]
    fn feed(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    /// Records an event: always into the fingerprint; into the sink when one
    /// is attached, with `detail` rendered only then.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn event(
        &mut self,
        now: Time,
        kind: EventKind,
        from: Option<Addr>,
        to: Option<Addr>,
        label: &str,
        content_hash: u64,
        detail: impl FnOnce() -> String,
    ) {
        self.record(now, kind, from, to, None, label, content_hash, detail);
    }

    /// Records an event of one message (send, deliver, drop, duplicate) as
    /// [`Trace::event`] does, with the message's id in the sink's record. The
    /// id never reaches the fingerprint.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn message(
        &mut self,
        now: Time,
        kind: EventKind,
        from: Addr,
        to: Addr,
        id: u64,
        label: &str,
        content_hash: u64,
        detail: impl FnOnce() -> String,
    ) {
        self.record(now, kind, Some(from), Some(to), Some(id), label, content_hash, detail);
    }

    /// Feeds the fingerprint inline (four words: every event pays this);
    /// the sink's record is built out of line, only when a sink is attached.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        now: Time,
        kind: EventKind,
        from: Option<Addr>,
        to: Option<Addr>,
        msg: Option<u64>,
        label: &str,
        content_hash: u64,
        detail: impl FnOnce() -> String,
    ) {
        self.feed(now.as_nanos());
        self.feed(kind as u64 | from.map_or(0, |a| addr_word(a) << 8));
        self.feed(to.map_or(u64::MAX, addr_word));
        self.feed(content_hash);
        if self.sink.is_some() {
            self.write_record(now, kind, from, to, msg, label, detail);
        }
    }

    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn write_record(
        &mut self,
        now: Time,
        kind: EventKind,
        from: Option<Addr>,
        to: Option<Addr>,
        msg: Option<u64>,
        label: &str,
        detail: impl FnOnce() -> String,
    ) {
        let record = TraceRecord {
            t_ns: now.as_nanos(),
            ev: kind.name(),
            from: from.map(|a| a.to_string()),
            to: to.map(|a| a.to_string()),
            msg,
            label,
            detail: detail(),
        };
        self.write_line(&record);
    }

    fn write_line(&mut self, record: &TraceRecord<'_>) {
        if self.write_error.is_some() {
            return;
        }
        if let Some(sink) = self.sink.as_mut() {
            let result = serde_json::to_writer(&mut *sink, record)
                .map_err(std::io::Error::other)
                .and_then(|()| sink.write_all(b"\n"));
            if let Err(e) = result {
                self.write_error = Some(e);
            }
        }
    }

    pub fn fingerprint(&self) -> u64 {
        mix64(self.state)
    }

    /// Flushes the sink; reports the first write error, if any.
    pub fn finish(&mut self) -> std::io::Result<()> {
        if let Some(e) = self.write_error.take() {
            return Err(e);
        }
        if let Some(sink) = self.sink.as_mut() {
            sink.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A sink the test can read after the trace is done with it.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn feed(trace: &mut Trace) {
        let (a, b) = (Addr::node(0), Addr::node(1));
        trace.event(Time::ZERO, EventKind::Start, Some(a), None, "", 0, String::new);
        trace.message(Time::from_nanos(5), EventKind::Send, a, b, 7, "Ping", 42, || "Ping { n: 1 }".into());
        trace.message(Time::from_nanos(9), EventKind::Deliver, a, b, 7, "Ping", 42, || "Ping { n: 1 }".into());
    }

    #[test]
    fn message_ids_reach_the_sink_but_not_the_fingerprint() {
        let shared = Shared::default();
        let mut with_sink = Trace::new(Some(Box::new(shared.clone())));
        feed(&mut with_sink);
        with_sink.finish().expect("flush");
        let mut without = Trace::new(None);
        feed(&mut without);
        assert_eq!(with_sink.fingerprint(), without.fingerprint());

        // The same events with another id give the same fingerprint.
        let mut other_id = Trace::new(None);
        let (a, b) = (Addr::node(0), Addr::node(1));
        other_id.event(Time::ZERO, EventKind::Start, Some(a), None, "", 0, String::new);
        other_id.message(Time::from_nanos(5), EventKind::Send, a, b, 99, "Ping", 42, String::new);
        other_id.message(Time::from_nanos(9), EventKind::Deliver, a, b, 99, "Ping", 42, String::new);
        assert_eq!(other_id.fingerprint(), without.fingerprint());

        let bytes = shared.0.lock().expect("lock").clone();
        let text = String::from_utf8(bytes).expect("UTF-8");
        let lines: Vec<TraceLine> = text.lines().map(|l| TraceLine::parse(l).expect("a trace line")).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].msg, None, "a start is no message");
        assert_eq!((lines[1].ev.as_str(), lines[1].msg), ("send", Some(7)));
        assert_eq!((lines[2].ev.as_str(), lines[2].msg), ("deliver", Some(7)));
        assert_eq!(lines[2].from.as_deref(), Some("n0"));
        assert_eq!(lines[2].detail, "Ping { n: 1 }");
    }
}
