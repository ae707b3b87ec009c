//! Request traces: a key per request, and optionally a size in bytes and a
//! timestamp. Two file formats:
//!
//! - **lines**: one key per line; blank lines are skipped.
//! - **CSV**: a header row naming a `key` column and optionally `size`
//!   (whole bytes, 0 to 4,294,967,295) and `timestamp` (seconds, a whole or
//!   decimal number, never decreasing); other columns are ignored, names are
//!   matched without regard to case or surrounding spaces.
//!
//! With `auto`, a file named `*.csv`, or whose first line names a `key`
//! column, is CSV, and anything else is lines. A line (a key) is at most
//! 64 KiB. A key that is a decimal `u64` is that number;
//! any other key is hashed to one with 64-bit FNV-1a over its bytes
//! ([`key_of`]), which is the same on every platform. A request without a
//! size is 1 byte. Every error names the file and line.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use faultline_sim::Time;

use super::Key;

/// The most requests a trace holds (in memory, 8 to 20 bytes each).
pub const MAX_REQUESTS: usize = 1 << 28;

/// The longest line of a lines trace, in bytes.
pub const MAX_LINE_BYTES: u64 = 64 << 10;

/// The largest size a request may have: sizes are 32-bit.
pub const MAX_SIZE: u64 = u32::MAX as u64;

/// A trace, in columns: keys, and sizes and times when the trace has them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    keys: Vec<Key>,
    sizes: Option<Vec<u32>>,
    times: Option<Vec<Time>>,
}

/// A trace that could not be read: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError {
    pub path: PathBuf,
    /// The 1-based line, when the error is on one.
    pub line: Option<u64>,
    pub message: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for TraceError {}

/// How a trace file is written.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TraceFormat {
    /// CSV if the file is named `*.csv` or its first line names a `key`
    /// column, lines otherwise.
    Auto,
    Lines,
    Csv,
}

/// 64-bit FNV-1a (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The key a trace's key text stands for: the number itself when it is a
/// decimal `u64` (digits only), its FNV-1a hash otherwise.
pub fn key_of(text: &[u8]) -> Key {
    if !text.is_empty() && text.len() <= 20 && text.iter().all(u8::is_ascii_digit) {
        if let Some(n) = std::str::from_utf8(text).ok().and_then(|s| s.parse::<u64>().ok()) {
            return n;
        }
    }
    fnv1a64(text)
}

impl Trace {
    /// A trace of these keys, each request 1 byte, without times.
    pub fn from_keys(keys: Vec<Key>) -> Trace {
        Trace { keys, sizes: None, times: None }
    }

    /// This trace with a size per request (as many as requests).
    pub fn with_sizes(self, sizes: Vec<u32>) -> Trace {
        assert_eq!(sizes.len(), self.keys.len(), "one size per request");
        Trace { sizes: Some(sizes), ..self }
    }

    /// This trace with a time per request (as many as requests, never decreasing).
    pub fn with_times(self, times: Vec<Time>) -> Trace {
        assert_eq!(times.len(), self.keys.len(), "one time per request");
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "times never decrease");
        Trace { times: Some(times), ..self }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The sizes, when the trace has them (otherwise every request is 1 byte).
    pub fn sizes(&self) -> Option<&[u32]> {
        self.sizes.as_deref()
    }

    pub fn times(&self) -> Option<&[Time]> {
        self.times.as_deref()
    }

    #[inline]
    pub fn size(&self, i: usize) -> u32 {
        self.sizes.as_ref().map_or(1, |s| s[i])
    }

    /// The time of request `i`: [`Time::ZERO`] when the trace has no times.
    #[inline]
    pub fn time(&self, i: usize) -> Time {
        self.times.as_ref().map_or(Time::ZERO, |t| t[i])
    }

    /// How many different keys the trace requests.
    pub fn distinct_keys(&self) -> usize {
        let mut keys = self.keys.clone();
        keys.sort_unstable();
        keys.dedup();
        keys.len()
    }

    /// Reads a trace file.
    pub fn read(path: &Path, format: TraceFormat) -> Result<Trace, TraceError> {
        let error = |line: Option<u64>, message: String| TraceError { path: path.to_path_buf(), line, message };
        let io = |e: std::io::Error| error(None, format!("cannot read: {e}"));
        let mut file = File::open(path).map_err(|e| error(None, format!("cannot open: {e}")))?;
        let format = match format {
            TraceFormat::Auto if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) => TraceFormat::Csv,
            TraceFormat::Auto => {
                let mut first = Vec::new();
                BufReader::new(&mut file).take(1 << 20).read_until(b'\n', &mut first).map_err(io)?;
                file.rewind().map_err(io)?;
                if first.split(|&b| b == b',').any(|f| f.trim_ascii().eq_ignore_ascii_case(b"key")) {
                    TraceFormat::Csv
                } else {
                    TraceFormat::Lines
                }
            }
            f => f,
        };
        let trace = match format {
            TraceFormat::Csv => read_csv(file, &error)?,
            _ => read_lines(file, &error)?,
        };
        if trace.is_empty() {
            return Err(error(None, "the trace has no requests".to_string()));
        }
        Ok(trace)
    }
}

type ErrorAt<'a> = dyn Fn(Option<u64>, String) -> TraceError + 'a;

fn too_long() -> String {
    format!("the trace has more than {MAX_REQUESTS} requests, the most a replay holds")
}

fn read_lines(file: File, error: &ErrorAt<'_>) -> Result<Trace, TraceError> {
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut keys = Vec::new();
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| error(Some(number + 1), format!("cannot read: {e}")))?;
        if n == 0 {
            break;
        }
        number += 1;
        if n as u64 > MAX_LINE_BYTES && line.last() != Some(&b'\n') {
            return Err(error(
                Some(number),
                format!("the line is longer than {MAX_LINE_BYTES} bytes; a lines trace has one key per line"),
            ));
        }
        let key = line.trim_ascii();
        if key.is_empty() {
            continue;
        }
        if keys.len() == MAX_REQUESTS {
            return Err(error(Some(number), too_long()));
        }
        keys.push(key_of(key));
    }
    Ok(Trace::from_keys(keys))
}

fn read_csv(file: File, error: &ErrorAt<'_>) -> Result<Trace, TraceError> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::All).buffer_capacity(1 << 16).from_reader(file);
    let csv_error = |e: csv::Error| {
        let line = e.position().map(|p| p.line());
        let message = match e.kind() {
            csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                format!("this row has {len} fields, the header has {expected_len}")
            }
            csv::ErrorKind::Io(io) => format!("cannot read: {io}"),
            _ => e.to_string(),
        };
        error(line, message)
    };
    let header = reader.byte_headers().map_err(csv_error)?.clone();
    let column = |name: &[u8]| header.iter().position(|h| h.trim_ascii().eq_ignore_ascii_case(name));
    let Some(key_column) = column(b"key") else {
        let names: Vec<String> = header.iter().map(|h| format!("`{}`", String::from_utf8_lossy(h))).collect();
        return Err(error(
            Some(1),
            format!(
                "the CSV header names no `key` column (it has {}); a trace's CSV has `key` and may have `size` and \
                 `timestamp`",
                names.join(", ")
            ),
        ));
    };
    let size_column = column(b"size");
    let time_column = column(b"timestamp");
    let mut keys = Vec::new();
    let mut sizes = size_column.map(|_| Vec::new());
    let mut times = time_column.map(|_| Vec::new());
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).map_err(csv_error)? {
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(i).unwrap_or_default();
        if keys.len() == MAX_REQUESTS {
            return Err(error(Some(line), too_long()));
        }
        let key = field(key_column);
        if key.is_empty() {
            return Err(error(Some(line), "the key is empty".to_string()));
        }
        keys.push(key_of(key));
        if let (Some(c), Some(sizes)) = (size_column, sizes.as_mut()) {
            sizes.push(parse_size(field(c)).map_err(|m| error(Some(line), m))?);
        }
        if let (Some(c), Some(times)) = (time_column, times.as_mut()) {
            let t = parse_timestamp(field(c)).map_err(|m| error(Some(line), m))?;
            if let Some(&previous) = times.last() {
                if t < previous {
                    return Err(error(
                        Some(line),
                        format!(
                            "timestamp {} is before the previous request's {}; a trace's requests are in time order",
                            String::from_utf8_lossy(field(c)),
                            seconds(previous)
                        ),
                    ));
                }
            }
            times.push(t);
        }
    }
    Ok(Trace { keys, sizes, times })
}

fn parse_size(text: &[u8]) -> Result<u32, String> {
    let shown = String::from_utf8_lossy(text);
    let bad = || format!("size `{shown}` is not a whole number of bytes from 0 to {MAX_SIZE}");
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    shown.parse::<u32>().map_err(|_| bad())
}

/// Seconds, whole or with up to nine decimals, as a [`Time`].
fn parse_timestamp(text: &[u8]) -> Result<Time, String> {
    let shown = String::from_utf8_lossy(text);
    let bad = || {
        format!("timestamp `{shown}` is not a time in seconds (a number like 1700000000 or 12.5, at least 0, up to 9 decimals)")
    };
    let (whole, fraction) = match shown.split_once('.') {
        Some((_, "")) => return Err(bad()),
        Some((w, f)) => (w, f),
        None => (&*shown, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 9 {
        return Err(bad());
    }
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let fraction_ns: u64 =
        if fraction.is_empty() { 0 } else { format!("{fraction:0<9}").parse().map_err(|_| bad())? };
    whole
        .checked_mul(1_000_000_000)
        .and_then(|ns| ns.checked_add(fraction_ns))
        .map(Time::from_nanos)
        .ok_or_else(|| format!("timestamp `{shown}` is too far in the future (at most 18446744073 seconds)"))
}

fn seconds(t: Time) -> String {
    let ns = t.as_nanos();
    match ns % 1_000_000_000 {
        0 => format!("{}", ns / 1_000_000_000),
        f => format!("{}.{}", ns / 1_000_000_000, format!("{f:09}").trim_end_matches('0')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_trace_fnv1a_matches_the_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn cache_trace_numbers_are_themselves_and_other_keys_are_hashed() {
        assert_eq!(key_of(b"42"), 42);
        assert_eq!(key_of(b"18446744073709551615"), u64::MAX);
        assert_eq!(key_of(b"18446744073709551616"), fnv1a64(b"18446744073709551616"));
        assert_eq!(key_of(b"-1"), fnv1a64(b"-1"));
        assert_eq!(key_of(b"user:7"), fnv1a64(b"user:7"));
    }

    #[test]
    fn cache_trace_timestamps_are_exact_decimal_seconds() {
        assert_eq!(parse_timestamp(b"12"), Ok(Time::from_nanos(12_000_000_000)));
        assert_eq!(parse_timestamp(b"1.5"), Ok(Time::from_nanos(1_500_000_000)));
        assert_eq!(parse_timestamp(b"0.000000001"), Ok(Time::from_nanos(1)));
        for bad in ["", "-1", "1e3", "1.", "x", "1.0000000001", "99999999999999999999"] {
            assert!(parse_timestamp(bad.as_bytes()).is_err(), "{bad}");
        }
        assert_eq!(seconds(Time::from_nanos(1_500_000_000)), "1.5");
    }
}
