//! Virtual time. A run never reads the wall clock: `Time` is an instant on the
//! simulation's clock and `Duration` a span of it, both integer nanoseconds,
//! so arithmetic is exact and identical on every machine.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// Units a duration may be written in.
const DURATION_UNITS: &str = "ns, us, ms, s, m, h";

/// The unit someone who wrote `unit` most likely meant.
fn unit_alias(unit: &str) -> Option<&'static str> {
    Some(match unit.to_lowercase().as_str() {
        "ns" | "nsec" | "nsecs" | "nanos" | "nanosecond" | "nanoseconds" => "ns",
        "us" | "µs" | "usec" | "usecs" | "micros" | "microsecond" | "microseconds" => "us",
        "ms" | "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => "ms",
        "s" | "sec" | "secs" | "second" | "seconds" => "s",
        "m" | "min" | "mins" | "minute" | "minutes" => "m",
        "h" | "hr" | "hrs" | "hour" | "hours" => "h",
        _ => return None,
    })
}

/// An instant of virtual time, in nanoseconds since the run began.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(u64);

/// A span of virtual time, in nanoseconds.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

impl Time {
    pub const ZERO: Time = Time(0);
    pub const MAX: Time = Time(u64::MAX);

    pub const fn from_nanos(ns: u64) -> Time {
        Time(ns)
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Time elapsed since `earlier`, zero if `earlier` is later.
    pub fn since(self, earlier: Time) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
}

impl Duration {
    pub const ZERO: Duration = Duration(0);
    pub const MAX: Duration = Duration(u64::MAX);

    pub const fn from_nanos(ns: u64) -> Duration {
        Duration(ns)
    }
    pub const fn from_micros(us: u64) -> Duration {
        Duration(us * 1_000)
    }
    pub const fn from_millis(ms: u64) -> Duration {
        Duration(ms * 1_000_000)
    }
    pub const fn from_secs(s: u64) -> Duration {
        Duration(s * 1_000_000_000)
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
    /// Scales by a non-negative factor, rounding to the nearest nanosecond and
    /// saturating; used for clock drift.
    pub fn mul_f64(self, factor: f64) -> Duration {
        let scaled = self.0 as f64 * factor;
        if scaled >= u64::MAX as f64 {
            Duration::MAX
        } else if scaled <= 0.0 {
            Duration::ZERO
        } else {
            Duration(libm::round(scaled) as u64)
        }
    }
    pub fn saturating_sub(self, other: Duration) -> Duration {
        Duration(self.0.saturating_sub(other.0))
    }
    pub fn checked_mul(self, n: u64) -> Option<Duration> {
        self.0.checked_mul(n).map(Duration)
    }

    /// Parses a duration written the way people write them: `"150ms"`,
    /// `"2s"`, `"1.5s"`, `"250us"`, `"10ns"`, `"3m"`, `"1h"`. A bare `"0"` is zero.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let t = text.trim();
        if t == "0" {
            return Ok(Duration::ZERO);
        }
        // The mistakes people make — nothing at all, a minus sign, a space
        // before the unit, a spelled-out unit — get a message of their own.
        if t.is_empty() {
            return Err("empty duration; write it like \"150ms\" or \"2s\"".to_string());
        }
        if let Some(rest) = t.strip_prefix('-') {
            return Err(format!("`{t}` is negative; a duration must be zero or more, like \"{}\"", rest.trim_start()));
        }
        let digits = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (number, rest) = t.split_at(digits);
        let written_unit = rest.trim_start();
        if !number.is_empty() && !written_unit.is_empty() {
            if !matches!(written_unit, "ns" | "us" | "µs" | "ms" | "s" | "m" | "min" | "h") {
                let hint =
                    unit_alias(written_unit).map_or(String::new(), |u| format!(" (did you mean `{number}{u}`?)"));
                return Err(format!("unknown unit `{written_unit}` in `{t}`{hint}; valid units are {DURATION_UNITS}"));
            }
            if written_unit.len() != rest.len() {
                return Err(format!("`{t}` has a space before the unit; write it as \"{number}{written_unit}\""));
            }
        }
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(|| {
            format!("`{t}` has no unit; write it like \"150ms\" or \"2s\" (units: ns, us, ms, s, m, h)")
        })?;
        let (number, unit) = t.split_at(split);
        let scale: u64 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" | "min" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(format!("unknown unit `{unit}` in `{t}`; valid units are ns, us, ms, s, m, h")),
        };
        if number.is_empty() {
            return Err(format!("`{t}` has no number; write it like \"150ms\""));
        }
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if frac.contains('.') || (whole.is_empty() && frac.is_empty()) {
            return Err(format!("`{number}` is not a number"));
        }
        let overflow = || format!("`{t}` is too long a duration");
        let whole_ns = if whole.is_empty() {
            0
        } else {
            whole.parse::<u64>().map_err(|_| overflow())?.checked_mul(scale).ok_or_else(overflow)?
        };
        // Exact decimal fraction: digits beyond nanosecond precision are rejected.
        let mut frac_ns: u64 = 0;
        let mut place = scale;
        for digit in frac.bytes() {
            place /= 10;
            let d = u64::from(digit - b'0');
            if place == 0 {
                if d != 0 {
                    return Err(format!("`{t}` is finer than one nanosecond"));
                }
                continue;
            }
            frac_ns += d * place;
        }
        whole_ns.checked_add(frac_ns).map(Duration).ok_or_else(overflow)
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(self.0.saturating_add(d.0))
    }
}
impl AddAssign<Duration> for Time {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}
impl Add for Duration {
    type Output = Duration;
    fn add(self, d: Duration) -> Duration {
        Duration(self.0.saturating_add(d.0))
    }
}
impl Sub for Time {
    type Output = Duration;
    fn sub(self, other: Time) -> Duration {
        self.since(other)
    }
}

fn fmt_ns(ns: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if ns == 0 {
        return write!(f, "0s");
    }
    let (unit, scale) = if ns.is_multiple_of(1_000_000_000) || ns >= 10_000_000_000 {
        ("s", 1e9)
    } else if ns >= 1_000_000 {
        ("ms", 1e6)
    } else if ns >= 1_000 {
        ("us", 1e3)
    } else {
        ("ns", 1.0)
    };
    let v = ns as f64 / scale;
    if v.fract() == 0.0 {
        write!(f, "{v:.0}{unit}")
    } else {
        write!(f, "{v:.3}{unit}")
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_ns(self.0, f)
    }
}
impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6}s", self.0 as f64 / 1e9)
    }
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string like \"150ms\" or \"2s\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                if v == 0 {
                    Ok(Duration::ZERO)
                } else {
                    Err(E::custom(format!(
                        "a bare number ({v}) has no unit; write it as a string like \"{v}ms\" or \"{v}s\""
                    )))
                }
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                self.visit_i64(v.min(i64::MAX as u64) as i64)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
                Err(E::custom(format!("a bare number ({v}) has no unit; write it as a string like \"{v}s\"")))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl serde::Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_durations() {
        let cases = [
            ("150ms", 150_000_000),
            ("2s", 2_000_000_000),
            ("1.5s", 1_500_000_000),
            ("250us", 250_000),
            ("10ns", 10),
            ("3m", 180_000_000_000),
            ("0", 0),
            ("0.001ms", 1_000),
        ];
        for (text, ns) in cases {
            assert_eq!(Duration::parse(text), Ok(Duration::from_nanos(ns)), "{text}");
        }
    }

    #[test]
    fn rejects_bad_durations() {
        for text in ["150", "ms", "1.2.3s", "5 parsecs", "0.5ns", "99999999999999h"] {
            assert!(Duration::parse(text).is_err(), "{text} should be rejected");
        }
    }

    #[test]
    fn displays_readably() {
        assert_eq!(Duration::from_millis(150).to_string(), "150ms");
        assert_eq!(Duration::from_secs(2).to_string(), "2s");
        assert_eq!(Duration::from_micros(1500).to_string(), "1.500ms");
    }
}
