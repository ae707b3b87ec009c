//! Sizes in bytes as a scenario writes them: `"512MiB"`, `"2GB"`, or a bare
//! integer of bytes. Units are case-sensitive, binary (`KiB`, `MiB`, `GiB`:
//! powers of 1024) or decimal (`KB`, `MB`, `GB`: powers of 1000), so
//! `"512mb"` is refused with a suggestion rather than guessed at.

use std::fmt;

use serde::Deserialize;

/// The units a size may be written in, with their bytes.
const UNITS: [(&str, u64); 7] = [
    ("B", 1),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
];

/// How the units are listed in messages.
pub const BYTE_UNITS: &str = "B, KiB, MiB, GiB, KB, MB, GB";

/// A number of bytes.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub u64);

impl Bytes {
    /// Parses `"512MiB"`, `"64KB"`, `"100B"` or `"4096"`: a whole number
    /// and a unit, with no space between.
    pub fn parse(text: &str) -> Result<Bytes, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err(format!("empty size; write it like \"512MiB\" (units: {BYTE_UNITS})"));
        }
        if let Some(rest) = t.strip_prefix('-') {
            return Err(format!("`{t}` is negative; a size must be above zero, like \"{}\"", rest.trim_start()));
        }
        let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (number, rest) = t.split_at(digits);
        if number.is_empty() {
            return Err(format!("`{t}` has no number; write it like \"512MiB\" (units: {BYTE_UNITS})"));
        }
        let unit = rest.trim_start();
        if unit.starts_with('.') {
            return Err(format!("`{t}` is not a whole number of units; write it in a smaller unit, like \"1536MiB\""));
        }
        let scale = match UNITS.iter().find(|(u, _)| *u == unit) {
            Some((_, scale)) => *scale,
            None if unit.is_empty() => 1,
            None => {
                let hint = UNITS
                    .iter()
                    .find(|(u, _)| u.eq_ignore_ascii_case(unit))
                    .map_or(String::new(), |(u, _)| format!(" (did you mean `{number}{u}`?)"));
                return Err(format!("unknown unit `{unit}` in `{t}`{hint}; valid units are {BYTE_UNITS}"));
            }
        };
        if unit.len() != rest.len() {
            return Err(format!("`{t}` has a space before the unit; write it as \"{number}{unit}\""));
        }
        let too_large = || format!("`{t}` is too large a size");
        let n: u64 = number.parse().map_err(|_| too_large())?;
        n.checked_mul(scale).map(Bytes).ok_or_else(too_large)
    }
}

/// In the largest unit it reaches: `512MiB`, `1.5GiB` (one decimal when
/// not a whole number of that unit), `100B`.
impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if self.0 >= scale {
                return if self.0.is_multiple_of(scale) {
                    write!(f, "{}{unit}", self.0 / scale)
                } else {
                    write!(f, "{:.1}{unit}", self.0 as f64 / scale as f64)
                };
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size like \"512MiB\" or a whole number of bytes")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Bytes, E> {
                Bytes::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Bytes, E> {
                u64::try_from(v)
                    .map(Bytes)
                    .map_err(|_| E::custom(format!("{v} is negative; a size must be above zero, like \"512MiB\"")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_in_every_unit() {
        let cases = [
            ("512MiB", 512 << 20),
            ("1GiB", 1 << 30),
            ("64KiB", 64 << 10),
            ("100B", 100),
            ("4096", 4096),
            ("2KB", 2_000),
            ("3MB", 3_000_000),
            ("1GB", 1_000_000_000),
        ];
        for (text, bytes) in cases {
            assert_eq!(Bytes::parse(text), Ok(Bytes(bytes)), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_size() {
        for text in ["", "MiB", "-1MiB", "1.5GiB", "512 MiB", "512mib", "10parsecs", "99999999999999999999B"] {
            assert!(Bytes::parse(text).is_err(), "{text} should be refused");
        }
        assert_eq!(
            Bytes::parse("512mib"),
            Err(
                "unknown unit `mib` in `512mib` (did you mean `512MiB`?); valid units are B, KiB, MiB, GiB, KB, MB, GB"
                    .to_string()
            )
        );
    }

    #[test]
    fn displays_in_the_largest_exact_unit() {
        assert_eq!(Bytes(512 << 20).to_string(), "512MiB");
        assert_eq!(Bytes(100).to_string(), "100B");
        assert_eq!(Bytes(1536).to_string(), "1.5KiB");
        assert_eq!(Bytes(64 << 30).to_string(), "64GiB");
        assert_eq!(Bytes(2_560_000_000).to_string(), "2.4GiB");
    }
}
