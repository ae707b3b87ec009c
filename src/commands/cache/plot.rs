//! The miss-ratio curve: miss ratio against capacity on a log scale, one
//! line per policy, drawn with the reports' plotting helpers and font.

use faultline_protocols::cache::mrc::Point;
use faultline_protocols::cache::PolicyKind;
use faultline_reports::plot::{colour, short, text, DrawResult, Figure};
use plotters::coord::Shift;
use plotters::prelude::*;

pub struct MissRatioCurve {
    title: String,
    x_label: String,
    /// (policy, (capacity, miss ratio) ascending in capacity).
    lines: Vec<(PolicyKind, Vec<(f64, f64)>)>,
}

impl MissRatioCurve {
    /// Object miss ratios.
    pub fn objects(curve: &[Point], bytes: bool, source: &str, unit: &str) -> MissRatioCurve {
        MissRatioCurve::of(curve, bytes, format!("Miss ratio: {}", short(source, 70)), unit, |p| p.stats.miss_ratio())
    }

    /// Byte miss ratios.
    pub fn bytes(curve: &[Point], bytes: bool, source: &str, unit: &str) -> MissRatioCurve {
        MissRatioCurve::of(curve, bytes, format!("Byte miss ratio: {}", short(source, 65)), unit, |p| {
            p.stats.byte_miss_ratio()
        })
    }

    fn of(curve: &[Point], bytes: bool, title: String, unit: &str, y: impl Fn(&Point) -> f64) -> MissRatioCurve {
        let mut lines: Vec<(PolicyKind, Vec<(f64, f64)>)> = Vec::new();
        for p in curve {
            let x = if bytes { p.capacity.max_bytes().unwrap_or(0) } else { u64::from(p.capacity.max_entries()) };
            let point = (x as f64, y(p));
            match lines.iter_mut().find(|(k, _)| *k == p.policy) {
                Some((_, line)) => line.push(point),
                None => lines.push((p.policy, vec![point])),
            }
        }
        for (_, line) in &mut lines {
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        MissRatioCurve { title, x_label: format!("capacity ({unit}, log scale)"), lines }
    }
}

/// 1234 -> "1.2k", 5000000 -> "5M".
fn compact(v: f64) -> String {
    let (scaled, suffix) = match v {
        v if v >= 1e9 => (v / 1e9, "G"),
        v if v >= 1e6 => (v / 1e6, "M"),
        v if v >= 1e3 => (v / 1e3, "k"),
        v => (v, ""),
    };
    let digits = if scaled >= 10.0 || scaled.fract().abs() < 1e-9 { 0 } else { 1 };
    format!("{scaled:.digits$}{suffix}")
}

impl Figure for MissRatioCurve {
    fn size(&self) -> (u32, u32) {
        (1000, 600)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let xs = self.lines.iter().flat_map(|(_, l)| l.iter().map(|p| p.0));
        let (lo, hi) = xs.fold((f64::INFINITY, 0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
        let (lo, hi) = if lo.is_finite() { (lo.max(1.0), hi.max(lo * 10.0)) } else { (1.0, 10.0) };
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, text(22))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d((lo / 1.2..hi * 1.2).log_scale(), 0f64..1.0)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.clone())
            .y_desc("miss ratio")
            .axis_desc_style(text(16))
            .label_style(text(14))
            .x_label_formatter(&|v| compact(*v))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()?;
        for (i, (policy, line)) in self.lines.iter().enumerate() {
            let c = colour(i);
            chart
                .draw_series(LineSeries::new(line.iter().copied(), c.stroke_width(2)))?
                .label(policy.name())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
            chart.draw_series(line.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(text(14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::compact;

    #[test]
    fn cache_axis_labels_are_compact() {
        assert_eq!(compact(1.0), "1");
        assert_eq!(compact(1_500.0), "1.5k");
        assert_eq!(compact(10_000.0), "10k");
        assert_eq!(compact(5_000_000.0), "5M");
    }
}
