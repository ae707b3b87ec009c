//! Throughput and success rate over virtual time for one scenario, with the
//! faults of its first seed shaded (chaos scenarios draw other faults for
//! other seeds; the legend says which seed the shading shows).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{colour, short, text, DrawResult, Figure};
use crate::figures::TimelineFigures;

pub const X_LABEL: &str = "virtual time (s)";
pub const THROUGHPUT_LABEL: &str = "throughput (ops/s per run)";
pub const SUCCESS_LABEL: &str = "success rate (ok / invoked)";

pub struct TimelinePlot<'a> {
    pub label: String,
    pub colour: usize,
    pub figures: &'a TimelineFigures,
}

/// The shade and legend name of a fault kind.
fn shade(kind: &str) -> (RGBColor, &'static str) {
    match kind {
        "partition" | "partition_oneway" | "isolate" => (RGBColor(255, 160, 60), "partition"),
        "crash" => (RGBColor(220, 60, 60), "crash"),
        "pause" => (RGBColor(150, 100, 200), "pause"),
        _ => (RGBColor(130, 130, 130), "clock rate"),
    }
}

impl TimelinePlot<'_> {
    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        caption: Option<String>,
        y_label: &str,
        y_max: f64,
        values: &[Option<f64>],
        legend: bool,
    ) -> DrawResult<DB> {
        let f = self.figures;
        let end_s = f.end_s();
        let mut builder = ChartBuilder::on(area);
        builder.margin(12).x_label_area_size(45).y_label_area_size(80);
        if let Some(caption) = caption {
            builder.caption(caption, text(20));
        }
        let mut chart = builder.build_cartesian_2d(0f64..end_s, 0f64..y_max)?;
        chart
            .configure_mesh()
            .x_desc(X_LABEL)
            .y_desc(y_label)
            .axis_desc_style(text(15))
            .label_style(text(13))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| if y_max <= 1.5 { format!("{v:.1}") } else { format!("{v:.0}") })
            .light_line_style(RGBColor(238, 238, 238))
            .draw()?;
        let mut kinds_drawn: Vec<&str> = Vec::new();
        for w in &f.fault_windows {
            let (c, name) = shade(&w.kind);
            let (x0, x1) = (w.start_ns as f64 / 1e9, (w.end_ns as f64 / 1e9).min(end_s));
            let series =
                chart.draw_series(std::iter::once(Rectangle::new([(x0, 0.0), (x1, y_max)], c.mix(0.25).filled())))?;
            if !kinds_drawn.contains(&name) {
                kinds_drawn.push(name);
                series
                    .label(format!("{name} in force (seed {})", f.fault_seed))
                    .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 20, y + 6)], c.mix(0.4).filled()));
            }
        }
        let dt = f.bucket_ns as f64 / 1e9;
        let line = colour(self.colour);
        // Buckets without a value break the line.
        let mut segments: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for (i, v) in values.iter().enumerate() {
            match v {
                Some(v) => segments.last_mut().into_iter().for_each(|s| s.push(((i as f64 + 0.5) * dt, *v))),
                None if segments.last().is_some_and(|s| !s.is_empty()) => segments.push(Vec::new()),
                None => {}
            }
        }
        let mut labelled = false;
        for segment in segments.into_iter().filter(|s| !s.is_empty()) {
            let series = chart.draw_series(LineSeries::new(segment, line.stroke_width(2)))?;
            if !labelled {
                labelled = true;
                series
                    .label(format!("{} (over {} seeds)", y_label.split(" (").next().unwrap_or(y_label), f.runs))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line.stroke_width(2)));
            }
        }
        if legend {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .label_font(text(13))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
        }
        Ok(())
    }
}

impl Figure for TimelinePlot<'_> {
    fn size(&self) -> (u32, u32) {
        (1000, 700)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let f = self.figures;
        let (top, bottom) = root.split_vertically(370);
        let peak = f.throughput_ops_s.iter().copied().fold(0f64, f64::max);
        let throughput: Vec<Option<f64>> = f.throughput_ops_s.iter().map(|&v| Some(v)).collect();
        let caption = format!("{}: throughput and success rate over virtual time", short(&self.label, 50));
        // The legend goes where the success rate rarely is: low down.
        self.panel(&top, Some(caption), THROUGHPUT_LABEL, (peak * 1.15).max(1.0), &throughput, false)?;
        // Operations invoked in the last bucket had no time to finish: leave it out.
        let success = &f.success_rate[..f.success_rate.len().saturating_sub(1)];
        self.panel(&bottom, None, SUCCESS_LABEL, 1.05, success, true)
    }
}
