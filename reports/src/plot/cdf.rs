//! Client latency CDF: one curve per scenario from its merged histogram,
//! latency on a log axis in milliseconds, with p50, p99 and p99.9 marked.

use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{colour, short, text, DrawResult, Figure, LabelPlacer};

/// The quantiles marked on every curve, with their labels.
pub const MARKED: [(f64, &str); 3] = [(0.5, "p50"), (0.99, "p99"), (0.999, "p999")];

pub const X_LABEL: &str = "latency (ms, log scale)";
pub const Y_LABEL: &str = "fraction of operations";

pub struct Curve {
    pub label: String,
    /// Palette index (the scenario's position in the batch).
    pub colour: usize,
    /// (latency ms, cumulative fraction), increasing.
    pub points: Vec<(f64, f64)>,
    /// (latency ms, quantile, label) for each of [`MARKED`].
    pub marks: Vec<(f64, f64, &'static str)>,
}

impl Curve {
    pub fn of(label: String, colour: usize, histogram: &Histogram<u64>) -> Curve {
        let total = histogram.len().max(1) as f64;
        let mut points = Vec::new();
        let mut below = 0u64;
        for v in histogram.iter_recorded() {
            below += v.count_at_value();
            points.push((ms(histogram.highest_equivalent(v.value_iterated_to())), below as f64 / total));
        }
        // The curve starts at zero at the lowest recorded value.
        if let Some(&(first, _)) = points.first() {
            points.insert(0, (ms(histogram.lowest_equivalent(histogram.min())).min(first), 0.0));
        }
        let marks = MARKED.iter().map(|&(q, name)| (ms(histogram.value_at_quantile(q)), q, name)).collect();
        Curve { label, colour, points, marks }
    }
}

fn ms(us: u64) -> f64 {
    // A log axis has no zero: a sub-microsecond latency is drawn at 1 us.
    us.max(1) as f64 / 1000.0
}

pub struct LatencyCdf {
    pub curves: Vec<Curve>,
}

impl Figure for LatencyCdf {
    fn size(&self) -> (u32, u32) {
        (1000, 600)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let all = self.curves.iter().flat_map(|c| c.points.iter().map(|p| p.0));
        let (lo, hi) = all.fold((f64::INFINITY, 0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
        let (lo, hi) = if lo.is_finite() { (lo / 1.5, hi * 1.5) } else { (0.1, 100.0) };
        let mut chart = ChartBuilder::on(root)
            .caption("Client latency CDF (all seeds merged)", text(22))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..1.05)?;
        chart
            .configure_mesh()
            .x_desc(X_LABEL)
            .y_desc(Y_LABEL)
            .axis_desc_style(text(16))
            .label_style(text(14))
            .x_label_formatter(&|v| format_ms(*v))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()?;
        for curve in &self.curves {
            let c = colour(curve.colour);
            let p = |(q, _, name): &(f64, f64, &str)| format!("{name} {}", format_ms(*q));
            let label =
                format!("{}: {}", short(&curve.label, 40), curve.marks.iter().map(p).collect::<Vec<_>>().join(", "));
            chart
                .draw_series(LineSeries::new(curve.points.iter().copied(), c.stroke_width(2)))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
            chart.draw_series(curve.marks.iter().map(|&(x, q, _)| Circle::new((x, q), 5, c.filled())))?;
        }
        // Labels go on after every curve, each moved clear of the others.
        let mut placer = LabelPlacer::default();
        for curve in &self.curves {
            let c = colour(curve.colour);
            for &(x, q, name) in &curve.marks {
                let style = text(13).color(&c);
                let (w, h) = root.estimate_text_size(name, &style)?;
                let (dx, dy) =
                    placer.place(chart.backend_coord(&(x, q)), (-(w as i32) - 8, -(h as i32) - 2), w as i32, h as i32);
                chart.draw_series(std::iter::once(
                    EmptyElement::at((x, q)) + Text::new(name.to_string(), (dx, dy), style),
                ))?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(text(14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    }
}

/// A millisecond figure with sensible precision.
pub fn format_ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}ms")
    } else if v >= 10.0 {
        format!("{v:.1}ms")
    } else if v >= 1.0 {
        format!("{v:.2}ms")
    } else {
        format!("{v:.3}ms")
    }
}
