//! Histograms across runs: how one run's HdrHistograms travel inside its
//! record (base64 of the compressed V2 encoding), and how a scenario's runs
//! merge into one histogram per metric, saved in the plain V2 encoding that
//! every HdrHistogram implementation reads.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer, V2Serializer};
use hdrhistogram::Histogram;

use crate::error::ReportError;

fn error(metric: &str, message: impl ToString) -> ReportError {
    ReportError::Histogram { metric: metric.to_string(), message: message.to_string() }
}

/// A histogram as record text: base64 of the deflate-compressed V2 encoding.
pub fn encode(metric: &str, histogram: &Histogram<u64>) -> Result<String, ReportError> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new().serialize(histogram, &mut bytes).map_err(|e| error(metric, format!("{e:?}")))?;
    Ok(STANDARD.encode(bytes))
}

/// The inverse of [`encode`].
pub fn decode(metric: &str, text: &str) -> Result<Histogram<u64>, ReportError> {
    let bytes = STANDARD.decode(text).map_err(|e| error(metric, format!("not base64: {e}")))?;
    Deserializer::new().deserialize(&mut bytes.as_slice()).map_err(|e| error(metric, format!("{e:?}")))
}

/// The plain (uncompressed) V2 encoding, the content of a `.hdr` file.
pub fn to_v2_bytes(metric: &str, histogram: &Histogram<u64>) -> Result<Vec<u8>, ReportError> {
    let mut bytes = Vec::new();
    V2Serializer::new().serialize(histogram, &mut bytes).map_err(|e| error(metric, format!("{e:?}")))?;
    Ok(bytes)
}

/// One histogram per metric, merged from many runs. Callers add runs in seed
/// order; the sums do not depend on it, but the order is fixed all the same.
#[derive(Default)]
pub struct MergedHistograms {
    by_metric: BTreeMap<String, Histogram<u64>>,
}

impl MergedHistograms {
    pub fn add(&mut self, metric: &str, histogram: &Histogram<u64>) -> Result<(), ReportError> {
        match self.by_metric.get_mut(metric) {
            Some(merged) => merged.add(histogram).map_err(|e| error(metric, format!("cannot merge: {e:?}"))),
            None => {
                self.by_metric.insert(metric.to_string(), histogram.clone());
                Ok(())
            }
        }
    }

    /// Adds every histogram of one run, as its record holds them ([`encode`] text by metric).
    pub fn add_encoded(&mut self, encoded: &BTreeMap<String, String>) -> Result<(), ReportError> {
        for (metric, text) in encoded {
            self.add(metric, &decode(metric, text)?)?;
        }
        Ok(())
    }

    /// Every metric with its merged histogram, sorted by metric name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Histogram<u64>)> {
        self.by_metric.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// A scenario or metric name as a file or directory name: letters, digits,
/// `-`, `_` and `.` stay, anything else becomes `_`.
pub fn file_name(name: &str) -> String {
    let cleaned: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
    match cleaned.as_str() {
        "" | "." | ".." => format!("_{cleaned}"),
        _ => cleaned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_sim::metrics::new_histogram;

    #[test]
    fn encode_decode_round_trip_and_merge() {
        let mut a = new_histogram();
        let mut b = new_histogram();
        for v in [1u64, 10, 100, 1000] {
            a.record(v).unwrap();
        }
        b.record(5_000_000).unwrap();
        let a2 = decode("x", &encode("x", &a).unwrap()).unwrap();
        assert_eq!(a2, a);
        let mut merged = MergedHistograms::default();
        merged.add("x", &a2).unwrap();
        merged.add("x", &b).unwrap();
        let (_, h) = merged.iter().next().unwrap();
        assert_eq!(h.len(), 5);
        let plain = to_v2_bytes("x", h).unwrap();
        let back: Histogram<u64> = Deserializer::new().deserialize(&mut plain.as_slice()).unwrap();
        assert_eq!(&back, h);
    }

    #[test]
    fn names_become_safe_file_names() {
        assert_eq!(file_name("raft-chaos"), "raft-chaos");
        assert_eq!(file_name("a/b c"), "a_b_c");
        assert_eq!(file_name(".."), "_..");
        assert_eq!(file_name(""), "_");
    }
}
