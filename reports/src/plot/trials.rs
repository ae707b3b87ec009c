//! CDF of timed trials (failover, election), one curve per scenario, as the
//! Raft paper draws its election figure: the fraction of trials finished
//! within a time. Censored trials keep their place in the denominator, so a
//! curve with censored trials tops out below 1; a dashed line carries it on
//! to the right edge, and the legend says how many were censored and after
//! how long.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::cdf::format_ms;
use super::{colour, short, text, DrawResult, Figure};

#[derive(Clone)]
pub struct TrialCurve {
    pub label: String,
    pub colour: usize,
    /// (ms, fraction of all trials) steps, ascending.
    pub points: Vec<(f64, f64)>,
    pub trials: usize,
    /// Censored trials and the shortest time one was watched.
    pub censored: usize,
    pub censored_after_ms: Option<f64>,
}

pub struct TrialsCdf {
    pub title: String,
    pub log: bool,
    pub curves: Vec<TrialCurve>,
}

impl Figure for TrialsCdf {
    fn size(&self) -> (u32, u32) {
        (1000, 600)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let xs = self.curves.iter().flat_map(|c| c.points.iter().map(|p| p.0).chain(c.censored_after_ms));
        let (lo, hi) = xs.fold((f64::INFINITY, 0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
        let (lo, hi) = if lo.is_finite() { (lo.max(0.001), hi.max(lo * 1.01)) } else { (1.0, 1000.0) };
        let mut chart = ChartBuilder::on(root);
        chart.caption(&self.title, text(22)).margin(15).x_label_area_size(50).y_label_area_size(70);
        let y_label = "fraction of trials";
        let draw_curves = |c: &TrialCurve, right: f64| {
            let mut line = c.points.clone();
            let top = line.last().map_or(0.0, |p| p.1);
            let dashed =
                if c.censored > 0 { vec![(line.last().map_or(lo, |p| p.0), top), (right, top)] } else { vec![] };
            if c.censored == 0 {
                line.push((right, top));
            }
            (line, dashed)
        };
        let legend = |c: &TrialCurve| {
            let mut label = format!("{}: {} trials", short(&c.label, 40), c.trials);
            if c.censored > 0 {
                let after = c.censored_after_ms.map(format_ms).unwrap_or_default();
                label.push_str(&format!(", {} censored (> {after})", c.censored));
            }
            label
        };
        macro_rules! plot {
            ($chart:expr, $right:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(if self.log { "time (ms, log scale)" } else { "time (ms)" })
                    .y_desc(y_label)
                    .axis_desc_style(text(16))
                    .label_style(text(14))
                    .x_label_formatter(&|v| format_ms(*v))
                    .y_label_formatter(&|v| if *v > 1.0 + 1e-9 { String::new() } else { format!("{v:.1}") })
                    .light_line_style(RGBColor(238, 238, 238))
                    .draw()?;
                for c in &self.curves {
                    let col = colour(c.colour);
                    let (line, dashed) = draw_curves(c, $right);
                    chart
                        .draw_series(LineSeries::new(line, col.stroke_width(2)))?
                        .label(legend(c))
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
                    if dashed.len() == 2 {
                        chart.draw_series(DashedLineSeries::new(dashed, 6, 4, col.stroke_width(1)))?;
                    }
                }
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperLeft)
                    .label_font(text(14))
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .draw()?;
            }};
        }
        if self.log {
            let (lo, hi) = (lo / 1.3, hi * 1.3);
            plot!(chart.build_cartesian_2d((lo..hi).log_scale(), 0f64..1.4)?, hi);
        } else {
            let hi = hi * 1.05;
            plot!(chart.build_cartesian_2d(0f64..hi, 0f64..1.4)?, hi);
        }
        Ok(())
    }
}
