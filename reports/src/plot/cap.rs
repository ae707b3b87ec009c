//! The CAP chart: for every scenario with partitions, availability on the
//! minority and on the majority side of the partition (x) against
//! consistency (y) — on the left the share of seeds with a violation
//! (a check the protocol declares as safety or consistency failed), on the right the share of reads
//! that were stale. One point per scenario and side; a later protocol's CAP
//! scenario (scenarios/cap/<protocol>.toml) is one more point, nothing else.

use plotters::coord::Shift;
use plotters::prelude::*;

use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{colour, short, text, DrawResult, Figure, LabelPlacer};
use crate::figures::{CapPoint, Spread};

pub const X_LABEL: &str = "availability (ok / invoked while partitioned)";
pub const VIOLATIONS_LABEL: &str = "seeds with a violation (fraction)";
pub const STALE_LABEL: &str = "stale reads (fraction of reads)";

pub struct CapEntry {
    pub label: String,
    pub colour: usize,
    pub point: CapPoint,
}

pub struct CapChart {
    pub entries: Vec<CapEntry>,
}

/// Which consistency figure a panel's y axis shows.
#[derive(Clone, Copy, PartialEq)]
enum Axis {
    Violations,
    Stale,
}

impl CapChart {
    fn y(point: &CapPoint, axis: Axis) -> Option<(f64, f64, f64)> {
        match axis {
            Axis::Violations => {
                let v = point.violation_rate();
                Some((v, v, v))
            }
            Axis::Stale => point.stale.map(|s| (s.pooled, s.p10, s.p90)),
        }
    }

    fn panel<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, axis: Axis) -> DrawResult<DB> {
        let (caption, y_label) = match axis {
            Axis::Violations => ("Violations", VIOLATIONS_LABEL),
            Axis::Stale => ("Stale reads", STALE_LABEL),
        };
        let y_max = match axis {
            Axis::Violations => 1.05,
            Axis::Stale => {
                let top = self.entries.iter().filter_map(|e| Self::y(&e.point, axis)).map(|y| y.2).fold(0f64, f64::max);
                (top * 1.25).clamp(0.05, 1.05)
            }
        };
        let mut chart = ChartBuilder::on(area)
            .caption(caption, text(18))
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(75)
            .build_cartesian_2d(-0.02f64..1.05, -0.02 * y_max..y_max)?;
        chart
            .configure_mesh()
            .x_desc(X_LABEL)
            .y_desc(y_label)
            .axis_desc_style(text(14))
            .label_style(text(13))
            .x_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .y_label_formatter(&|v| {
                if y_max < 0.2 {
                    format!("{:.1}%", v * 100.0)
                } else {
                    format!("{:.0}%", v * 100.0)
                }
            })
            .light_line_style(RGBColor(238, 238, 238))
            .draw()?;
        let mut placer = LabelPlacer::default();
        // Labels keep off every marker, drawn before or after them.
        for (i, entry) in self.entries.iter().enumerate() {
            let Some((y, _, _)) = Self::y(&entry.point, axis) else { continue };
            for s in [entry.point.minority, entry.point.majority].into_iter().flatten() {
                placer.reserve(chart.backend_coord(&(s.pooled, y)), marker_radius(i) + 1);
            }
        }
        for (i, entry) in self.entries.iter().enumerate() {
            let c = colour(entry.colour);
            let Some((y, y_lo, y_hi)) = Self::y(&entry.point, axis) else { continue };
            // Each later entry's markers are smaller, so protocols that land
            // on the same point show as nested marks, none hidden.
            let r = marker_radius(i);
            let sides: Vec<(bool, Spread)> = [(true, entry.point.minority), (false, entry.point.majority)]
                .into_iter()
                .filter_map(|(minority, s)| s.map(|s| (minority, s)))
                .collect();
            if let [(_, a), (_, b)] = sides.as_slice() {
                chart
                    .draw_series(std::iter::once(PathElement::new(vec![(a.pooled, y), (b.pooled, y)], c.mix(0.35))))?;
            }
            for &(minority, s) in &sides {
                let bars = [vec![(s.p10, y), (s.p90, y)], vec![(s.pooled, y_lo), (s.pooled, y_hi)]];
                chart.draw_series(bars.into_iter().map(|b| PathElement::new(b, c.stroke_width(2))))?;
                if minority {
                    chart.draw_series(std::iter::once(Circle::new((s.pooled, y), r + 1, c.filled())))?;
                } else {
                    chart.draw_series(std::iter::once(
                        EmptyElement::at((s.pooled, y)) + Rectangle::new([(-r, -r), (r, r)], c.filled()),
                    ))?;
                }
            }
            if let Some(&(_, s)) = sides.first() {
                let label = short(&entry.label, 30);
                let style = text(13).color(&c);
                let (w, h) = area.estimate_text_size(&label, &style)?;
                let anchor = chart.backend_coord(&(s.pooled, y));
                let (dx, dy) = placer.place(anchor, (-8, -(h as i32) - 12), w as i32, h as i32);
                chart.draw_series(std::iter::once(
                    EmptyElement::at((s.pooled, y)) + Text::new(label, (dx, dy), style),
                ))?;
            }
        }
        Ok(())
    }
}

/// The half-width of entry `i`'s markers: 10 pixels for the first, 3 fewer
/// for each after it, at least 2.
fn marker_radius(i: usize) -> i32 {
    10i32.saturating_sub(3i32.saturating_mul(i.min(100) as i32)).max(2)
}

impl Figure for CapChart {
    fn size(&self) -> (u32, u32) {
        (1100, 620)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let root = root.titled("Availability under partition vs consistency", text(22))?;
        let (plots, key) = root.split_vertically(root.dim_in_pixel().1 - 60);
        let (left, right) = plots.split_horizontally(plots.dim_in_pixel().0 / 2);
        self.panel(&left, Axis::Violations)?;
        self.panel(&right, Axis::Stale)?;
        // The key: what the shapes and bars mean, then one colour per scenario.
        let style = text(14).pos(Pos::new(HPos::Left, VPos::Center));
        let mut x = 20;
        let y = 18;
        key.draw(&Circle::new((x + 6, y), 6, BLACK.filled()))?;
        key.draw(&Text::new("minority side", (x + 18, y), style.clone()))?;
        x += 140;
        key.draw(&Rectangle::new([(x, y - 6), (x + 12, y + 6)], BLACK.filled()))?;
        key.draw(&Text::new("majority side", (x + 18, y), style.clone()))?;
        x += 140;
        key.draw(&Text::new("bars: 10th-90th percentile over seeds", (x, y), style.clone()))?;
        let mut x = 20;
        let y = y + 24;
        for entry in &self.entries {
            let c = colour(entry.colour);
            let label = short(&entry.label, 40);
            key.draw(&Rectangle::new([(x, y - 6), (x + 12, y + 6)], c.filled()))?;
            key.draw(&Text::new(label.clone(), (x + 18, y), style.clone()))?;
            let (w, _) = key.estimate_text_size(&label, &style)?;
            x += w as i32 + 40;
        }
        Ok(())
    }
}
