//! One metric across scenarios: the mean over seeds with min–max whiskers,
//! one row per scenario (rows, not columns, so long names stay readable).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{colour, short, text, DrawResult, Figure};
use crate::figures::MetricStats;

pub struct CompareChart {
    pub metric: String,
    /// (scenario label, palette index, the metric over its seeds if recorded).
    pub rows: Vec<(String, usize, Option<MetricStats>)>,
}

impl Figure for CompareChart {
    fn size(&self) -> (u32, u32) {
        (1000, 150 + 55 * self.rows.len().max(1) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let stats = self.rows.iter().filter_map(|r| r.2);
        let (lo, hi) = stats.fold((0f64, 0f64), |(lo, hi), s| (lo.min(s.min), hi.max(s.max)));
        let span = (hi - lo).max(1.0);
        let n = self.rows.len().max(1) as i32;
        let names: Vec<String> = self.rows.iter().map(|r| short(&r.0, 30)).collect();
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{}: mean over seeds, whiskers min to max", self.metric), text(20))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(250)
            .build_cartesian_2d(lo - 0.02 * span..hi + 0.08 * span, (0..n - 1).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(self.metric.clone())
            .axis_desc_style(text(15))
            .label_style(text(14))
            .y_labels(self.rows.len().max(1))
            .x_label_formatter(&|v| if span >= 20.0 { format!("{v:.0}") } else { format!("{v:.2}") })
            .light_line_style(RGBColor(238, 238, 238))
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => names.get((n - 1 - *i) as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .draw()?;
        for (i, (_, palette, stats)) in self.rows.iter().enumerate() {
            // The first scenario on top.
            let row = || SegmentValue::CenterOf(n - 1 - i as i32);
            let c = colour(*palette);
            let Some(s) = stats else {
                chart.draw_series(std::iter::once(Text::new(
                    "not recorded",
                    (lo, row()),
                    text(14).color(&BLACK.mix(0.6)),
                )))?;
                continue;
            };
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(s.min, row()), (s.max, row())],
                c.stroke_width(2),
            )))?;
            for end in [s.min, s.max] {
                chart.draw_series(std::iter::once(
                    EmptyElement::at((end, row())) + PathElement::new(vec![(0, -8), (0, 8)], c.stroke_width(2)),
                ))?;
            }
            chart.draw_series(std::iter::once(Circle::new((s.mean, row()), 7, c.filled())))?;
            let figure = if s.mean.fract() == 0.0 && s.mean.abs() < 1e15 {
                format!("{:.0}", s.mean)
            } else {
                format!("{:.1}", s.mean)
            };
            let label = format!("mean {figure} ({} runs)", s.runs);
            let style = text(13).color(&c);
            let (w, _) = root.estimate_text_size(&label, &style)?;
            // Left-aligned over the dot, unless that runs past the right edge.
            let x = chart.backend_coord(&(s.mean, row())).0;
            let right = chart.plotting_area().get_pixel_range().0.end;
            let dx = (-10).min(right - x - w as i32 - 4);
            chart
                .draw_series(std::iter::once(EmptyElement::at((s.mean, row())) + Text::new(label, (dx, -26), style)))?;
        }
        Ok(())
    }
}
