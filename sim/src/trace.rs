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
    #[serde(skip_serializing_if = "str::is_empty")]
    pub label: &'a str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
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
        self.feed(now.as_nanos());
        self.feed(kind as u64 | from.map_or(0, |a| addr_word(a) << 8));
        self.feed(to.map_or(u64::MAX, addr_word));
        self.feed(content_hash);
        if self.sink.is_some() {
            let record = TraceRecord {
                t_ns: now.as_nanos(),
                ev: kind.name(),
                from: from.map(|a| a.to_string()),
                to: to.map(|a| a.to_string()),
                label,
                detail: detail(),
            };
            self.write_line(&record);
        }
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
