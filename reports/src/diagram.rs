//! The space-time (Lamport) diagram of a window of one run: one vertical
//! lifeline per process, time flowing down, an arrow per message from its
//! send to its delivery, labelled with the message's type.
//!
//! - A dropped message is a red dashed arrow ending in a cross: a short stub
//!   when the network dropped it as it was sent (loss, a cut link), a full
//!   arrow when it died on arrival (a cut, a crashed receiver, a broken
//!   session). A duplicate's second delivery is a dotted arrow.
//! - A lifeline is coloured by the process's role, as the protocol declares
//!   it (for Raft: thin grey follower, orange candidate, thick green leader),
//!   and dashed while the process is crashed;
//!   role changes are dots with the new role written beside them.
//! - Partitions shade the whole width for as long as they last, crashes and
//!   pauses shade the crashed or paused process's column.
//!
//! The vertical axis is the order of events, not a linear clock: every
//! distinct instant gets its own row, and the gap to the next grows with the
//! logarithm of the time between them, so a burst of messages a millisecond
//! apart stays legible next to a heartbeat 50ms later. The left margin gives
//! each row's virtual time, and long gaps say how much time they hide.

use std::collections::BTreeMap;

use faultline_sim::fault::windows;
use faultline_sim::{AppliedFault, RoleSpec, Time};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::plot::{self, text, DrawResult, Figure, LabelPlacer};
use crate::replay::{drop_reason, Collected, Window};

/// The most messages one diagram draws; a longer window is cut at the send
/// of the next message, and the caller says so.
pub const MAX_DIAGRAM_MESSAGES: usize = 400;
/// The most role changes, timers and fault marks one diagram draws.
pub const MAX_DIAGRAM_MARKS: usize = 400;

const LANE_WIDTH: i32 = 200;
const AXIS_WIDTH: i32 = 120;
const RIGHT_MARGIN: i32 = 60;
const TOP: i32 = 136;
/// Rows of events at the same instant are this far apart at least...
const ROW_MIN: f64 = 22.0;
/// ...plus up to this much for the time between them (logarithmic).
const ROW_EXTRA_MAX: f64 = 36.0;
/// Gaps at least this long (ns) say how much time they hide.
const BREAK_NS: u64 = 10_000_000;
const BOTTOM_MARGIN: i32 = 36;
const LEGEND_HEIGHT: i32 = 112;
/// How far along its way a message dropped as it was sent is drawn, and how
/// far down it falls.
const STUB_LENGTH: i32 = 110;
const STUB_DROP: i32 = 14;

const DROPPED: RGBColor = RGBColor(214, 39, 40);
const GREY: RGBColor = RGBColor(120, 120, 120);
const LIGHT_GREY: RGBColor = RGBColor(190, 190, 190);
const AXIS_TEXT: RGBColor = RGBColor(90, 90, 90);

/// Message colours, in order of first appearance; no red (drops) and no grey
/// (lifelines).
const MESSAGE_COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(148, 103, 189),
    RGBColor(23, 190, 207),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(0, 0, 128),
    RGBColor(255, 127, 14),
];

/// A role's colour and lifeline width, as the protocol declares them; no
/// role is thin grey, a role the protocol did not declare is purple.
fn role_style(roles: &[RoleSpec], role: &str) -> (RGBColor, u32) {
    if role.is_empty() {
        return (GREY, 2);
    }
    match roles.iter().find(|r| r.name == role) {
        Some(r) => (RGBColor(r.colour[0], r.colour[1], r.colour[2]), r.width),
        None => (RGBColor(148, 103, 189), 3),
    }
}

/// A fault kind's shade and legend name.
fn shade_style(kind: &str) -> (RGBColor, &'static str) {
    match kind {
        "partition" | "partition_oneway" | "isolate" => (RGBColor(255, 160, 60), "partition / cut link"),
        "crash" => (RGBColor(220, 60, 60), "crashed"),
        _ => (RGBColor(150, 100, 200), "paused"),
    }
}

/// What a diagram is drawn from.
pub struct DiagramSpec<'a> {
    /// The first line of the title: scenario, protocol, seed.
    pub title: String,
    /// The window asked for.
    pub window: Window,
    pub nodes: u32,
    /// Draw the lifelines of clients that appear in the window.
    pub clients: bool,
    pub collected: &'a Collected,
    /// Every fault the run applied (for shading).
    pub faults: &'a [AppliedFault],
    /// When the run ended (faults still in force run to it).
    pub run_end: Time,
    /// The roles the protocol declares, with their colours.
    pub roles: &'a [RoleSpec],
}

/// How a window was cut to [`MAX_DIAGRAM_MESSAGES`] / [`MAX_DIAGRAM_MARKS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// Messages drawn, and messages the window holds.
    pub drawn: usize,
    pub total: usize,
    /// The diagram ends here.
    pub until_ns: u64,
}

#[derive(Debug, Clone, PartialEq)]
enum End {
    Delivered(u64),
    /// Dropped at `at`: as it was sent when `at` is its send time.
    Dropped {
        at: u64,
        reason: String,
    },
    /// Delivered or dropped after the diagram's end.
    After {
        dropped: bool,
    },
    /// Neither delivered nor dropped before the run ended (or still held
    /// by a paused receiver).
    Never,
}

#[derive(Debug, Clone)]
struct Arrow {
    label: String,
    from: usize,
    to: usize,
    /// `None`: sent before the window.
    sent: Option<u64>,
    end: End,
    /// The second delivery of a duplicated message.
    copy: bool,
}

#[derive(Debug, Clone)]
enum MarkKind {
    Role(String),
    Timer(String),
    /// A fault striking the process; `ends_role` for a crash.
    Note {
        text: String,
        ends_role: bool,
    },
}

#[derive(Debug, Clone)]
struct Mark {
    t: u64,
    lane: usize,
    kind: MarkKind,
}

#[derive(Debug, Clone)]
struct Shade {
    from: u64,
    to: u64,
    /// `None`: every lane.
    lane: Option<usize>,
    kind: String,
    text: String,
}

/// A laid-out diagram, ready to draw as SVG, PNG or an HTML page.
pub struct Diagram {
    title: String,
    subtitle: String,
    lanes: Vec<String>,
    roles_at_start: Vec<String>,
    arrows: Vec<Arrow>,
    marks: Vec<Mark>,
    shades: Vec<Shade>,
    /// Every instant drawn, with its row's y.
    rows: BTreeMap<u64, i32>,
    bottom: i32,
    message_types: Vec<String>,
    roles: Vec<RoleSpec>,
}

fn lane_x(lane: usize) -> i32 {
    AXIS_WIDTH + LANE_WIDTH / 2 + lane as i32 * LANE_WIDTH
}

/// A row's virtual time: milliseconds in the first second, then seconds.
fn format_time(ns: u64) -> String {
    if ns < 1_000_000_000 {
        format!("{:.3}ms", ns as f64 / 1e6)
    } else {
        Time::from_nanos(ns).to_string()
    }
}

impl Diagram {
    /// Lays out the diagram of `spec`'s window; says how it was cut when the
    /// window holds more than one diagram draws.
    pub fn build(spec: &DiagramSpec<'_>) -> (Diagram, Option<Truncation>) {
        let events = &spec.collected.events;
        // Lifelines: every node, then the clients the window mentions.
        let mut lanes: Vec<String> = (0..spec.nodes).map(|n| format!("n{n}")).collect();
        if spec.clients {
            let mut clients: Vec<u32> = events
                .iter()
                .flat_map(|e| [e.from.as_deref(), e.to.as_deref()])
                .flatten()
                .filter_map(|a| a.strip_prefix('c')?.parse().ok())
                .collect();
            clients.sort_unstable();
            clients.dedup();
            lanes.extend(clients.into_iter().map(|c| format!("c{c}")));
        }
        let lane_of = |name: Option<&str>| name.and_then(|n| lanes.iter().position(|l| l == n));

        // Where the diagram ends: the window's end, the last event, or where
        // the message or mark budget runs out.
        let top = spec.window.from_ns;
        let mut end = spec.window.to_ns.min(spec.collected.last_kept_ns().unwrap_or(top)).max(top);
        let is_message = |ev: &str| ev == "send";
        let is_mark = |ev: &str| matches!(ev, "role" | "timer" | "fault");
        let mut messages = 0usize;
        let mut marks = 0usize;
        let mut cut_at = None;
        for e in events.iter() {
            let in_lanes = lane_of(e.from.as_deref()).is_some()
                && (e.to.is_none() || lane_of(e.to.as_deref()).is_some() || e.ev == "fault");
            if is_message(&e.ev) && in_lanes {
                messages += 1;
                if messages > MAX_DIAGRAM_MESSAGES && cut_at.is_none() {
                    cut_at = Some(e.t_ns);
                }
            } else if (is_mark(&e.ev) && in_lanes) || e.ev == "fault" {
                marks += 1;
                if marks > MAX_DIAGRAM_MARKS && cut_at.is_none() {
                    cut_at = Some(e.t_ns);
                }
            }
        }
        let truncation = cut_at.map(|t| {
            end = t.saturating_sub(1).max(top);
            let drawn = events
                .iter()
                .filter(|e| {
                    e.t_ns <= end
                        && is_message(&e.ev)
                        && lane_of(e.from.as_deref()).is_some()
                        && lane_of(e.to.as_deref()).is_some()
                })
                .count();
            Truncation { drawn, total: messages, until_ns: end }
        });

        let mut arrows: Vec<Arrow> = Vec::new();
        let mut by_id: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        let mut marks = Vec::new();
        let mut message_types: Vec<String> = Vec::new();
        let fates = events.iter().filter(|e| e.t_ns > end).chain(spec.collected.later.iter());
        for e in events.iter().filter(|e| e.t_ns <= end) {
            let t = e.t_ns;
            match e.ev.as_str() {
                "send" | "deliver" | "drop" => {
                    let (Some(from), Some(to), Some(id)) =
                        (lane_of(e.from.as_deref()), lane_of(e.to.as_deref()), e.msg)
                    else {
                        continue;
                    };
                    if !message_types.contains(&e.label) {
                        message_types.push(e.label.clone());
                    }
                    let end_of = |e: &crate::replay::TraceLine| match e.ev.as_str() {
                        "drop" => End::Dropped { at: e.t_ns, reason: drop_reason(&e.detail).1.to_string() },
                        _ => End::Delivered(e.t_ns),
                    };
                    let known = by_id.entry(id).or_default();
                    if e.ev == "send" {
                        known.push(arrows.len());
                        arrows.push(Arrow {
                            label: e.label.clone(),
                            from,
                            to,
                            sent: Some(t),
                            end: End::Never,
                            copy: false,
                        });
                    } else if let Some(&open) = known.iter().find(|&&i| arrows[i].end == End::Never) {
                        arrows[open].end = end_of(e);
                    } else {
                        // A second delivery (a duplicate), or a message sent
                        // before the window.
                        let sent = known.first().and_then(|&i| arrows[i].sent);
                        let copy = !known.is_empty();
                        known.push(arrows.len());
                        arrows.push(Arrow { label: e.label.clone(), from, to, sent, end: end_of(e), copy });
                    }
                }
                "role" => {
                    if let Some(lane) = lane_of(e.from.as_deref()) {
                        marks.push(Mark { t, lane, kind: MarkKind::Role(e.label.clone()) });
                    }
                }
                "timer" => {
                    if let Some(lane) = lane_of(e.from.as_deref()) {
                        marks.push(Mark { t, lane, kind: MarkKind::Timer(e.detail.clone()) });
                    }
                }
                "fault" if matches!(e.label.as_str(), "crash" | "restart" | "pause" | "resume" | "clock_rate") => {
                    if let crate::replay::FaultScope::Nodes(nodes) = crate::replay::fault_scope(&e.label, &e.detail) {
                        for n in nodes {
                            if let Some(lane) = lane_of(Some(&format!("n{n}"))) {
                                let note = match e.label.as_str() {
                                    "crash" => "crashes".to_string(),
                                    "restart" => "restarts".to_string(),
                                    "pause" => "paused".to_string(),
                                    "resume" => "resumes".to_string(),
                                    _ => e.detail.replace(&format!("n{n} "), ""),
                                };
                                let ends_role = e.label == "crash";
                                marks.push(Mark { t, lane, kind: MarkKind::Note { text: note, ends_role } });
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        for e in fates {
            let Some(open) = e.msg.and_then(|id| by_id.get(&id)).and_then(|known| {
                known.iter().copied().find(|&i| arrows[i].end == End::Never && arrows[i].sent.is_some())
            }) else {
                continue;
            };
            arrows[open].end = End::After { dropped: e.ev == "drop" };
        }

        // Faults in force during the diagram.
        let mut shades = Vec::new();
        for w in windows(spec.faults, spec.run_end) {
            if w.end_ns < top || w.start_ns > end || w.kind == "clock_rate" {
                continue;
            }
            let lane = match w.kind.as_str() {
                "crash" | "pause" => match w.nodes.first().and_then(|n| lane_of(Some(&format!("n{n}")))) {
                    Some(lane) => Some(lane),
                    None => continue,
                },
                _ => None,
            };
            let description = spec
                .faults
                .iter()
                .find(|f| f.at.as_nanos() == w.start_ns && f.kind == w.kind && f.nodes == w.nodes)
                .map_or_else(|| w.kind.clone(), |f| f.description.clone());
            let span = format!(
                "{} to {}",
                faultline_sim::Duration::from_nanos(w.start_ns),
                faultline_sim::Duration::from_nanos(w.end_ns)
            );
            shades.push(Shade {
                from: w.start_ns.max(top),
                to: w.end_ns.min(end),
                lane,
                kind: w.kind.clone(),
                text: if description.starts_with(w.kind.as_str()) {
                    format!("{description} ({span})")
                } else {
                    format!("{}: {description} ({span})", w.kind)
                },
            });
        }

        // Rows: every instant something is drawn at.
        let mut instants: Vec<u64> = vec![top, end];
        for a in &arrows {
            instants.extend(a.sent);
            match a.end {
                End::Delivered(t) | End::Dropped { at: t, .. } => instants.push(t),
                End::After { .. } | End::Never => {}
            }
        }
        instants.extend(marks.iter().map(|m| m.t));
        for s in &shades {
            instants.push(s.from);
            instants.push(s.to);
        }
        instants.sort_unstable();
        instants.dedup();
        let mut rows = BTreeMap::new();
        let mut y = TOP as f64;
        let mut previous = None;
        for t in instants {
            if let Some(p) = previous {
                let gap_ms = (t - p) as f64 / 1e6;
                y += ROW_MIN + (6.0 * (1.0 + gap_ms).log2()).min(ROW_EXTRA_MAX);
            }
            rows.insert(t, y.round() as i32);
            previous = Some(t);
        }
        let bottom = rows.values().last().copied().unwrap_or(TOP) + BOTTOM_MARGIN;

        let roles_at_start =
            lanes.iter().map(|l| spec.collected.roles_at_start.get(l).cloned().unwrap_or_default()).collect();
        let drawn = arrows.iter().filter(|a| a.sent.is_some() && !a.copy).count();
        let dropped = arrows.iter().filter(|a| matches!(a.end, End::Dropped { .. })).count();
        let shown_end = if truncation.is_some() || spec.window.to_ns == u64::MAX { end } else { spec.window.to_ns };
        let subtitle = format!(
            "{} to {} of virtual time: {drawn} messages sent, {dropped} dropped{}",
            faultline_sim::Duration::from_nanos(top),
            faultline_sim::Duration::from_nanos(shown_end),
            if spec.clients { "" } else { " (nodes only; --clients adds client lifelines)" }
        );
        let diagram = Diagram {
            title: spec.title.clone(),
            subtitle,
            lanes,
            roles_at_start,
            arrows,
            marks,
            shades,
            rows,
            bottom,
            message_types,
            roles: spec.roles.to_vec(),
        };
        (diagram, truncation)
    }

    /// Messages drawn (sent in the diagram's span), drops among them.
    pub fn counts(&self) -> (usize, usize) {
        let sent = self.arrows.iter().filter(|a| a.sent.is_some() && !a.copy).count();
        let dropped = self.arrows.iter().filter(|a| matches!(a.end, End::Dropped { .. })).count();
        (sent, dropped)
    }

    pub fn svg(&self) -> Result<String, String> {
        Ok(plot::render(self)?.svg)
    }

    pub fn png(&self) -> Result<Vec<u8>, String> {
        Ok(plot::render(self)?.png)
    }

    /// A self-contained page: the title, the SVG and how to read it.
    pub fn html(&self) -> Result<String, String> {
        let svg = self.svg()?;
        let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        Ok(format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n\
             <style>body {{ font-family: sans-serif; margin: 1.5em; color: #222; }} \
             p {{ max-width: 60em; }}</style>\n</head>\n<body>\n<h1>{title}</h1>\n<p>{subtitle}</p>\n\
             <p>Time flows down; each vertical line is a process, each arrow a message from its send to its \
             delivery. Red dashed arrows ending in a cross were dropped. Rows follow the order of events: \
             the left margin gives each row's virtual time, and long gaps say how much time they hide.</p>\n\
             {svg}\n</body>\n</html>\n",
            title = escape(&self.title),
            subtitle = escape(&self.subtitle),
        ))
    }

    fn y(&self, t: u64) -> i32 {
        self.rows.get(&t).copied().unwrap_or(self.bottom - BOTTOM_MARGIN)
    }

    fn last_row(&self) -> i32 {
        self.bottom - BOTTOM_MARGIN
    }

    fn message_colour(&self, label: &str) -> RGBColor {
        let i = self.message_types.iter().position(|l| l == label).unwrap_or(0);
        MESSAGE_COLOURS[i % MESSAGE_COLOURS.len()]
    }

    /// The role of `lane` at each instant it changes, from the window's top.
    fn role_segments(&self, lane: usize) -> Vec<(i32, String)> {
        let mut segments = vec![(TOP, self.roles_at_start[lane].clone())];
        for m in self.marks.iter().filter(|m| m.lane == lane) {
            match &m.kind {
                MarkKind::Role(role) => segments.push((self.y(m.t), role.clone())),
                MarkKind::Note { ends_role: true, .. } => segments.push((self.y(m.t), String::new())),
                _ => {}
            }
        }
        segments
    }
}

/// A filled arrowhead at `tip`, pointing away from `from`.
fn arrowhead(from: (i32, i32), tip: (i32, i32), colour: RGBColor) -> Polygon<(i32, i32)> {
    let (dx, dy) = ((tip.0 - from.0) as f64, (tip.1 - from.1) as f64);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    let (size, half) = (10.0, 4.5);
    let base = (tip.0 as f64 - ux * size, tip.1 as f64 - uy * size);
    let left = ((base.0 - uy * half).round() as i32, (base.1 + ux * half).round() as i32);
    let right = ((base.0 + uy * half).round() as i32, (base.1 - ux * half).round() as i32);
    Polygon::new(vec![tip, left, right], colour.filled())
}

fn cross<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, (x, y): (i32, i32)) -> DrawResult<DB> {
    let r = 6;
    let style = DROPPED.stroke_width(3);
    root.draw(&PathElement::new(vec![(x - r, y - r), (x + r, y + r)], style))?;
    root.draw(&PathElement::new(vec![(x - r, y + r), (x + r, y - r)], style))
}

/// A label waiting for its place: labels are placed after every shape is
/// drawn, most important first, so they sit on top and move out of each
/// other's way.
struct Label {
    text: String,
    colour: RGBColor,
    size: u32,
    /// The point it belongs to, and where its top left corner would like to
    /// be relative to it; `None` centres it above the point.
    anchor: (i32, i32),
    offset: Option<(i32, i32)>,
    /// The box behind it.
    background: RGBAColor,
}

impl Label {
    fn new(text: String, colour: RGBColor, size: u32, anchor: (i32, i32), offset: Option<(i32, i32)>) -> Label {
        Label { text, colour, size, anchor, offset, background: WHITE.mix(0.88) }
    }
}

/// Draws `labels` clear of each other and of the event points in `keep_clear`.
fn draw_labels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    labels: &[Label],
    keep_clear: &[(i32, i32)],
) -> DrawResult<DB> {
    let mut placer = LabelPlacer::default();
    for &(x, y) in keep_clear {
        placer.place((x, y), (-5, -5), 10, 10);
    }
    for l in labels {
        let style = text(l.size).color(&l.colour);
        let (w, h) = root.estimate_text_size(&l.text, &style)?;
        // The estimate is the ink's height: leave a line's room around it.
        let (w, h) = (w as i32, h as i32 + 4);
        let wanted = l.offset.unwrap_or((-w / 2, -h - 2));
        let (dx, dy) = placer.place(l.anchor, wanted, w, h);
        let (x, y) = (l.anchor.0 + dx, l.anchor.1 + dy);
        root.draw(&Rectangle::new([(x - 3, y), (x + w + 3, y + h)], l.background.filled()))?;
        root.draw(&Text::new(l.text.clone(), (x, y + 2), style))?;
    }
    Ok(())
}

impl Figure for Diagram {
    fn size(&self) -> (u32, u32) {
        let width = AXIS_WIDTH + self.lanes.len() as i32 * LANE_WIDTH + RIGHT_MARGIN;
        (width.max(900) as u32, (self.bottom + LEGEND_HEIGHT) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (width, _) = self.size();
        let width = width as i32;
        let lanes_right = AXIS_WIDTH + self.lanes.len() as i32 * LANE_WIDTH;
        let last = self.last_row();
        // Labels by priority: roles and faults, drops, messages, timers.
        let (mut first, mut drops, mut messages, mut timers) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());

        root.draw(&Text::new(self.title.clone(), (16, 12), text(20)))?;
        root.draw(&Text::new(self.subtitle.clone(), (16, 42), text(14).color(&AXIS_TEXT)))?;

        // Fault shading, behind everything. A fault already in force when the
        // window opens is named above the lifelines.
        let mut above = TOP - 22;
        for s in &self.shades {
            let (colour, _) = shade_style(&s.kind);
            let dark = RGBColor(colour.0 / 2 + 40, colour.1 / 2, colour.2 / 2);
            let (y0, y1) = (self.y(s.from), self.y(s.to).max(self.y(s.from) + 4));
            let (x0, x1) = match s.lane {
                Some(lane) => (lane_x(lane) - LANE_WIDTH / 2 + 12, lane_x(lane) + LANE_WIDTH / 2 - 12),
                None => (AXIS_WIDTH - 8, lanes_right),
            };
            root.draw(&Rectangle::new([(x0, y0), (x1, y1)], colour.mix(0.12).filled()))?;
            if y0 > TOP {
                root.draw(&PathElement::new(vec![(x0, y0), (x1, y0)], colour.mix(0.7).stroke_width(1)))?;
                // A crash or pause is named on its lifeline where it strikes.
                if s.lane.is_none() {
                    first.push(Label::new(s.text.clone(), dark, 12, (x0 + 6, y0), Some((0, 3))));
                }
            } else {
                root.draw(&Rectangle::new([(x0, above - 1), (x0 + 14, above + 13)], colour.mix(0.35).filled()))?;
                root.draw(&Text::new(format!("in force: {}", s.text), (x0 + 20, above), text(12).color(&dark)))?;
                above -= 16;
            }
        }

        // Long gaps: how much time they hide.
        let mut previous: Option<(u64, i32)> = None;
        for (&t, &y) in &self.rows {
            if let Some((pt, py)) = previous {
                if t - pt >= BREAK_NS {
                    let mid = (py + y) / 2;
                    root.draw(&DashedPathElement::new(
                        vec![(AXIS_WIDTH - 8, mid), (lanes_right, mid)],
                        2,
                        6,
                        LIGHT_GREY.stroke_width(1),
                    ))?;
                    let label = format!("+{}", faultline_sim::Duration::from_nanos(t - pt));
                    let style = text(11).color(&AXIS_TEXT).pos(Pos::new(HPos::Right, VPos::Center));
                    root.draw(&Text::new(label, (AXIS_WIDTH - 14, mid), style))?;
                }
            }
            previous = Some((t, y));
        }

        // Lane headers and lifelines, coloured by role.
        let crashed: Vec<(usize, i32, i32)> = self
            .shades
            .iter()
            .filter(|s| s.kind == "crash")
            .filter_map(|s| Some((s.lane?, self.y(s.from), self.y(s.to))))
            .collect();
        for (lane, name) in self.lanes.iter().enumerate() {
            let x = lane_x(lane);
            root.draw(&Rectangle::new([(x - 34, 66), (x + 34, 94)], RGBColor(240, 240, 240).filled()))?;
            root.draw(&Rectangle::new([(x - 34, 66), (x + 34, 94)], GREY.stroke_width(1)))?;
            root.draw(&Text::new(name.clone(), (x, 80), text(16).pos(Pos::new(HPos::Center, VPos::Center))))?;
            let start_role = &self.roles_at_start[lane];
            let (role_colour, _) = role_style(&self.roles, start_role);
            if !start_role.is_empty() {
                let style = text(12).color(&role_colour).pos(Pos::new(HPos::Center, VPos::Top));
                root.draw(&Text::new(start_role.clone(), (x, 97), style))?;
            }
            let segments = self.role_segments(lane);
            for (i, (y0, role)) in segments.iter().enumerate() {
                let y1 = segments.get(i + 1).map_or(last + 14, |s| s.0);
                let (colour, stroke) = role_style(&self.roles, role);
                // A crashed stretch is drawn dashed instead.
                let mut cuts: Vec<(i32, i32)> = crashed
                    .iter()
                    .filter(|c| c.0 == lane && c.1 < y1 && c.2 > *y0)
                    .map(|c| (c.1.max(*y0), c.2.min(y1)))
                    .collect();
                cuts.sort_unstable();
                let mut y = *y0;
                for (c0, c1) in cuts {
                    if c0 > y {
                        root.draw(&PathElement::new(vec![(x, y), (x, c0)], colour.stroke_width(stroke)))?;
                    }
                    root.draw(&DashedPathElement::new(vec![(x, c0), (x, c1)], 4, 5, LIGHT_GREY.stroke_width(2)))?;
                    y = y.max(c1);
                }
                if y1 > y {
                    root.draw(&PathElement::new(vec![(x, y), (x, y1)], colour.stroke_width(stroke)))?;
                }
            }
        }

        // Timers under everything else on the lifelines.
        for m in &self.marks {
            if let MarkKind::Timer(name) = &m.kind {
                let (x, y) = (lane_x(m.lane), self.y(m.t));
                root.draw(&Circle::new((x, y), 5, WHITE.filled()))?;
                root.draw(&Circle::new((x, y), 5, GREY.stroke_width(2)))?;
                timers.push(Label::new(format!("{name} timer"), AXIS_TEXT, 11, (x, y), Some((-10, 0))));
            }
        }

        // Messages; their ends are kept clear of labels.
        let mut points = Vec::new();
        for a in &self.arrows {
            let colour = if matches!(a.end, End::Dropped { .. }) { DROPPED } else { self.message_colour(&a.label) };
            let (x1, x2) = (lane_x(a.from), lane_x(a.to));
            if x1 == x2 {
                continue; // a process messaging itself: nothing to draw between lanes
            }
            let toward = if x2 > x1 { 1 } else { -1 };
            let y1 = a.sent.map_or(TOP - 6, |t| self.y(t));
            let mut stub = false;
            let (tip, label, dropped, dashed) = match &a.end {
                End::Delivered(t) => ((x2 - toward * 3, self.y(*t)), a.label.clone(), false, a.copy),
                End::Dropped { at, reason } if Some(*at) == a.sent => {
                    // Dropped as it was sent: a stub that falls short, sloping
                    // down, clear of the message that may have just arrived.
                    stub = true;
                    let len = STUB_LENGTH.min((x2 - x1).abs() * 2 / 3);
                    ((x1 + toward * len, y1 + STUB_DROP), format!("{} dropped ({reason})", a.label), true, true)
                }
                End::Dropped { at, reason } => {
                    ((x2 - toward * 10, self.y(*at)), format!("{} dropped ({reason})", a.label), true, true)
                }
                End::After { dropped: true } => ((x2, last + 14), format!("{} (dropped later)", a.label), false, true),
                End::After { dropped: false } => ((x2, last + 14), format!("{} (arrives later)", a.label), false, true),
                End::Never => ((x2, last + 14), format!("{} (never arrives)", a.label), false, true),
            };
            let label = if a.copy { format!("{label} (duplicate)") } else { label };
            let label = if a.sent.is_none() { format!("{label} (sent earlier)") } else { label };
            let stroke = colour.stroke_width(if dropped { 2 } else { 1 });
            if dashed {
                root.draw(&DashedPathElement::new(vec![(x1, y1), tip], 6, 4, stroke))?;
            } else {
                root.draw(&PathElement::new(vec![(x1, y1), tip], stroke))?;
            }
            if dropped {
                cross(root, tip)?;
            } else {
                root.draw(&arrowhead((x1, y1), tip, colour))?;
            }
            if a.sent.is_some() {
                root.draw(&Circle::new((x1, y1), 3, colour.filled()))?;
                points.push((x1, y1));
            }
            points.push(tip);
            if stub {
                // Under the stub, inside the gap it heads into (right-aligned
                // to the sender when it heads left: measured below).
                let offset = if toward > 0 { (10, 8) } else { (-10, 8) };
                let mut l = Label::new(label, DROPPED, 13, (x1, tip.1), Some(offset));
                l.background = RGBColor(255, 235, 235).mix(0.95);
                drops.push(l);
                continue;
            }
            // The label sits above the arrow, in the gap beside the receiver
            // (fan-outs from one sender then spread over different gaps).
            let gx = x2 - toward * LANE_WIDTH / 2;
            let f = (gx - x1) as f64 / (tip.0 - x1) as f64;
            let gy = y1 + ((tip.1 - y1) as f64 * f).round() as i32;
            if dropped {
                let mut l = Label::new(label, DROPPED, 13, (gx, gy), None);
                l.background = RGBColor(255, 235, 235).mix(0.95);
                drops.push(l);
            } else {
                messages.push(Label::new(label, colour, 12, (gx, gy), None));
            }
        }

        // Role changes and node faults, on top of the lifelines.
        for m in &self.marks {
            let (x, y) = (lane_x(m.lane), self.y(m.t));
            match &m.kind {
                MarkKind::Role(role) => {
                    let (colour, _) = role_style(&self.roles, role);
                    root.draw(&Circle::new((x, y), 7, colour.filled()))?;
                    root.draw(&Circle::new((x, y), 7, WHITE.stroke_width(2)))?;
                    let label = if role.is_empty() { "no role".to_string() } else { format!("becomes {role}") };
                    first.push(Label::new(label, colour, 13, (x, y), Some((12, -8))));
                }
                MarkKind::Note { text: note, .. } => {
                    root.draw(&Rectangle::new([(x - 5, y - 5), (x + 5, y + 5)], DROPPED.filled()))?;
                    first.push(Label::new(note.clone(), DROPPED, 12, (x, y), Some((10, -7))));
                }
                MarkKind::Timer(_) => {}
            }
        }

        // Timer labels go left of their lifeline: measure them now.
        for l in timers.iter_mut() {
            let (w, _) = root.estimate_text_size(&l.text, &text(l.size))?;
            l.offset = Some((-(w as i32) - 10, -7));
        }
        for l in drops.iter_mut().filter(|l| l.offset == Some((-10, 8))) {
            let (w, _) = root.estimate_text_size(&l.text, &text(l.size))?;
            l.offset = Some((-(w as i32) - 10, 8));
        }
        let labels: Vec<Label> = first.into_iter().chain(drops).chain(messages).chain(timers).collect();
        draw_labels(root, &labels, &points)?;

        // The time of each row, where there is room.
        let mut last_label: Option<i32> = None;
        for (&t, &y) in &self.rows {
            if last_label.is_none_or(|l| y - l >= 14) {
                let style = text(11).color(&AXIS_TEXT).pos(Pos::new(HPos::Right, VPos::Center));
                root.draw(&Text::new(format_time(t), (AXIS_WIDTH - 14, y), style))?;
                root.draw(&PathElement::new(
                    vec![(AXIS_WIDTH - 10, y), (AXIS_WIDTH - 4, y)],
                    LIGHT_GREY.stroke_width(1),
                ))?;
                last_label = Some(y);
            }
        }
        let style = text(12).color(&AXIS_TEXT).pos(Pos::new(HPos::Right, VPos::Center));
        root.draw(&Text::new("virtual time", (AXIS_WIDTH - 14, 80), style))?;

        self.legend(root, width)
    }
}

impl Diagram {
    fn legend<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, width: i32) -> DrawResult<DB> {
        let top = self.bottom + 8;
        root.draw(&Rectangle::new([(12, top), (width - 12, top + LEGEND_HEIGHT - 16)], GREY.stroke_width(1)))?;
        let style = text(13);
        let line_y = |row: i32| top + 18 + row * 28;
        // Row 1: message types.
        let mut x = 24;
        root.draw(&Text::new("messages:", (x, line_y(0)), style.pos(Pos::new(HPos::Left, VPos::Center))))?;
        x += 80;
        for label in &self.message_types {
            let c = self.message_colour(label);
            root.draw(&PathElement::new(vec![(x, line_y(0)), (x + 26, line_y(0))], c.stroke_width(2)))?;
            root.draw(&arrowhead((x, line_y(0)), (x + 30, line_y(0)), c))?;
            let t = text(13).color(&c).pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new(label.clone(), (x + 36, line_y(0)), t))?;
            x += 46 + root.estimate_text_size(label, &style)?.0 as i32 + 14;
        }
        // Row 2: drops, duplicates, timers.
        let y = line_y(1);
        let mut x = 24;
        let left = |s: TextStyle<'static>| s.pos(Pos::new(HPos::Left, VPos::Center));
        root.draw(&DashedPathElement::new(vec![(x, y), (x + 30, y)], 6, 4, DROPPED.stroke_width(2)))?;
        cross(root, (x + 34, y))?;
        root.draw(&Text::new("dropped (short: as sent; long: on arrival)", (x + 48, y), left(text(13))))?;
        x += 340;
        root.draw(&DashedPathElement::new(vec![(x, y), (x + 30, y)], 6, 4, GREY.stroke_width(1)))?;
        root.draw(&arrowhead((x, y), (x + 34, y), GREY))?;
        root.draw(&Text::new("duplicate, or arrives after the diagram", (x + 44, y), left(text(13))))?;
        x += 310;
        root.draw(&Circle::new((x, y), 5, GREY.stroke_width(2)))?;
        root.draw(&Text::new("timer fired", (x + 12, y), left(text(13))))?;
        // Row 3: roles and shading.
        let y = line_y(2);
        let mut x = 24;
        root.draw(&Text::new("lifelines:", (x, y), left(text(13))))?;
        x += 72;
        for role in self.roles.iter().map(|r| r.name) {
            let (c, stroke) = role_style(&self.roles, role);
            root.draw(&PathElement::new(vec![(x, y), (x + 26, y)], c.stroke_width(stroke)))?;
            root.draw(&Text::new(role, (x + 32, y), left(text(13))))?;
            x += 40 + root.estimate_text_size(role, &style)?.0 as i32 + 12;
        }
        for kind in ["partition", "crash", "pause"] {
            let (c, name) = shade_style(kind);
            root.draw(&Rectangle::new([(x, y - 8), (x + 26, y + 8)], c.mix(0.25).filled()))?;
            root.draw(&Text::new(name, (x + 32, y), left(text(13))))?;
            x += 40 + root.estimate_text_size(name, &style)?.0 as i32 + 12;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::TraceLine;

    fn ev(t_ms: u64, ev: &str, from: &str, to: &str, msg: Option<u64>, label: &str, detail: &str) -> TraceLine {
        TraceLine {
            t_ns: t_ms * 1_000_000,
            ev: ev.into(),
            from: Some(from.into()),
            to: (!to.is_empty()).then(|| to.into()),
            msg,
            label: label.into(),
            detail: detail.into(),
        }
    }

    fn spec(collected: &Collected) -> DiagramSpec<'_> {
        DiagramSpec {
            title: "test".into(),
            window: Window::ALL,
            nodes: 3,
            clients: false,
            collected,
            faults: &[],
            run_end: Time::from_nanos(1_000_000_000),
            roles: &[RoleSpec { name: "leader", colour: [44, 160, 44], width: 5, primary: true }],
        }
    }

    #[test]
    fn messages_pair_with_their_fates() {
        let collected = Collected {
            events: vec![
                ev(1, "send", "n0", "n1", Some(0), "Ping", ""),
                ev(1, "send", "n0", "n2", Some(1), "Ping", ""),
                ev(1, "drop", "n0", "n2", Some(1), "Ping", "Ping (partition)"),
                ev(2, "deliver", "n0", "n1", Some(0), "Ping", ""),
                ev(3, "deliver", "n0", "n1", Some(0), "Ping", ""),
                ev(4, "send", "n1", "c0", Some(2), "Reply", ""),
                ev(5, "role", "n1", "", None, "leader", ""),
            ],
            ..Collected::default()
        };
        let (d, cut) = Diagram::build(&spec(&collected));
        assert_eq!(cut, None);
        assert_eq!(d.counts(), (2, 1), "the client's message is not drawn without --clients");
        assert_eq!(d.arrows[0].end, End::Delivered(2_000_000));
        assert_eq!(d.arrows[1].end, End::Dropped { at: 1_000_000, reason: "partition".into() });
        assert!(d.arrows[2].copy, "the second delivery is the duplicate");
        let svg = d.svg().expect("draw");
        assert!(svg.contains("Ping dropped (partition)") && svg.contains("becomes leader"), "{svg}");
    }

    #[test]
    fn long_windows_are_cut_at_the_message_budget() {
        let events =
            (0..MAX_DIAGRAM_MESSAGES as u64 + 10).map(|i| ev(i, "send", "n0", "n1", Some(i), "Ping", "")).collect();
        let collected = Collected { events, ..Collected::default() };
        let (d, cut) = Diagram::build(&spec(&collected));
        let cut = cut.expect("cut");
        assert_eq!((cut.drawn, cut.total), (MAX_DIAGRAM_MESSAGES, MAX_DIAGRAM_MESSAGES + 10));
        assert_eq!(d.counts().0, MAX_DIAGRAM_MESSAGES);
    }
}
