//! `faultline replay`: runs one scenario and seed again and shows a window of
//! it — the events as readable lines, a space-time diagram (SVG, PNG or HTML)
//! and a ShiViz log with vector clocks.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::anyhow;
use faultline_protocols::Loaded;
use faultline_protocols::RunOptions;
use faultline_reports::atomic::write_atomically;
use faultline_reports::diagram::{Diagram, DiagramSpec, MAX_DIAGRAM_MESSAGES};
use faultline_reports::replay::{involves, process_name, readable, ReplaySink, Shown, Window};
use faultline_reports::shiviz::{self, SHIVIZ_REGEX};
use faultline_sim::{Duration, Time};

use super::run::load;
use super::{CliError, Outcome};
use crate::cli::ReplayArgs;
use crate::output::{info, paint, thousands};

/// The formats `--diagram` writes, by file extension.
#[derive(Copy, Clone)]
enum DiagramFormat {
    Svg,
    Png,
    Html,
}

fn diagram_format(path: &Path) -> Result<DiagramFormat, CliError> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") => Ok(DiagramFormat::Svg),
        Some("png") => Ok(DiagramFormat::Png),
        Some("html" | "htm") => Ok(DiagramFormat::Html),
        _ => Err(CliError::input(anyhow!(
            "--diagram {}: the file name must end in .svg, .png or .html (it picks the format)",
            path.display()
        ))),
    }
}

/// An output file's directory must exist before the run starts.
fn check_output(option: &str, path: &Path) -> Result<(), CliError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(CliError::input(anyhow!(
            "{option} {}: directory {} does not exist",
            path.display(),
            dir.display()
        )));
    }
    if path.is_dir() {
        return Err(CliError::input(anyhow!("{option} {}: is a directory", path.display())));
    }
    Ok(())
}

fn parse_time(option: &str, text: &str) -> Result<u64, CliError> {
    Duration::parse(text)
        .map(Duration::as_nanos)
        .map_err(|e| CliError::input(anyhow!("{option} `{text}`: {e} (a virtual time such as \"150ms\" or \"1.5s\")")))
}

fn window(args: &ReplayArgs, scenario: &Loaded) -> Result<Window, CliError> {
    let from_ns = args.from.as_deref().map(|t| parse_time("--from", t)).transpose()?.unwrap_or(0);
    let to_ns = args.to.as_deref().map(|t| parse_time("--to", t)).transpose()?.unwrap_or(u64::MAX);
    if to_ns < from_ns {
        return Err(CliError::input(anyhow!(
            "--to {} is before --from {}",
            Duration::from_nanos(to_ns),
            Duration::from_nanos(from_ns)
        )));
    }
    let end = scenario.limits.max_time.as_nanos();
    if from_ns > end {
        return Err(CliError::input(anyhow!(
            "--from {} is after the run ends (at {}, the scenario's duration plus liveness)",
            Duration::from_nanos(from_ns),
            Duration::from_nanos(end)
        )));
    }
    Ok(Window { from_ns, to_ns })
}

/// The process `--node` names, as the trace writes it.
fn node_filter(text: &str, scenario: &Loaded) -> Result<String, CliError> {
    let clients = scenario.clients.count;
    let known = if clients > 0 {
        format!("nodes n0 to n{} and clients c0 to c{}", scenario.nodes - 1, clients - 1)
    } else {
        format!("nodes n0 to n{}", scenario.nodes - 1)
    };
    let name = process_name(text).ok_or_else(|| {
        CliError::input(anyhow!("--node `{text}`: not a node or client name; this scenario has {known}"))
    })?;
    let (kind, index) = name.split_at(1);
    let index: u32 = index.parse().unwrap_or(u32::MAX);
    let exists = if kind == "n" { index < scenario.nodes } else { index < clients };
    if !exists {
        return Err(CliError::input(anyhow!("--node `{text}`: no such process; this scenario has {known}")));
    }
    Ok(name)
}

/// Paints an event kind as the summary paints verdicts.
fn paint_kind(kind: &str) -> String {
    let padded = format!("{kind:<9}");
    match kind {
        "drop" => paint(&padded, "31;1"),
        "role" => paint(&padded, "32;1"),
        "fault" => paint(&padded, "35;1"),
        _ => padded,
    }
}

pub fn replay(args: &ReplayArgs) -> Result<Outcome, CliError> {
    let scenario = load(&args.file)?;
    let seed = args.seed.unwrap_or(scenario.seed);
    let window = window(args, &scenario)?;
    let node = args.node.as_deref().map(|n| node_filter(n, &scenario)).transpose()?;
    let format = args.diagram.as_deref().map(diagram_format).transpose()?;
    if let Some(path) = &args.diagram {
        check_output("--diagram", path)?;
    }
    if let Some(path) = &args.shiviz {
        check_output("--shiviz", path)?;
    }

    println!(
        "replay       {} ({}, {} nodes) from {}, seed {seed}, {}{}",
        scenario.name,
        scenario.protocol,
        scenario.nodes,
        args.file.display(),
        window.describe(),
        node.as_deref().map(|n| format!(", events of {n}")).unwrap_or_default()
    );
    let printer: Option<faultline_reports::replay::Printer> = if args.quiet {
        None
    } else {
        println!("{:>12}  {:<4}  {:<9}  what", "time", "at", "event");
        let mut out = BufWriter::new(std::io::stdout());
        let filter = node.clone();
        Some(Box::new(move |shown: Shown<'_>| {
            if filter.as_deref().is_some_and(|who| !involves(shown.event, who)) {
                return;
            }
            let line = readable(shown.event, shown.previous_role);
            // A closed stdout ends the program (SIGPIPE), as for any tool.
            let _ = writeln!(out, "{:>12}  {:<4}  {}  {}", line.time, line.at, paint_kind(&line.kind), line.what);
        }))
    };
    let keep = args.diagram.is_some() || args.shiviz.is_some();
    let (sink, handle) = ReplaySink::new(window, keep, printer);
    let options =
        RunOptions { trace: Some(Box::new(BufWriter::with_capacity(1 << 16, sink))), ..RunOptions::default() };
    let report = scenario.run(seed, options);
    let (collected, bad_lines) = handle.take();
    if bad_lines > 0 {
        return Err(CliError::from(anyhow!("{bad_lines} trace lines could not be read back")));
    }
    let checks: Vec<String> = report.checks.iter().map(|c| format!("{} {}", c.name, c.verdict.as_str())).collect();
    println!(
        "window       {} events traced; checks of the run: {}",
        thousands(collected.in_window),
        if checks.is_empty() { "none".to_string() } else { checks.join(", ") }
    );
    println!("fingerprint  {}", report.fingerprint_hex());

    if let (Some(path), Some(format)) = (&args.diagram, format) {
        let spec = DiagramSpec {
            title: format!("{} ({}, {} nodes), seed {seed}", scenario.name, scenario.protocol, scenario.nodes),
            window,
            nodes: scenario.nodes,
            clients: args.clients,
            collected: &collected,
            faults: &report.faults,
            run_end: report.virtual_time,
            roles: crate::registry().find(&scenario.protocol).map_or(&[], |p| p.roles),
        };
        let (diagram, truncation) = Diagram::build(&spec);
        if let Some(cut) = truncation {
            info(&format!(
                "diagram: the window holds {} messages, more than a diagram draws ({MAX_DIAGRAM_MESSAGES}); drawing \
                 the first {}, up to {} (pick a narrower window with --from/--to)",
                thousands(cut.total as u64),
                cut.drawn,
                Time::from_nanos(cut.until_ns)
            ));
        }
        let bytes = match format {
            DiagramFormat::Svg => diagram.svg().map(String::into_bytes),
            DiagramFormat::Png => diagram.png(),
            DiagramFormat::Html => diagram.html().map(String::into_bytes),
        }
        .map_err(|e| CliError::from(anyhow!("cannot draw the diagram: {e}")))?;
        write_atomically(path, &bytes).map_err(|e| CliError::from(anyhow!("cannot write the diagram: {e}")))?;
        let (sent, dropped) = diagram.counts();
        println!("diagram      {} ({sent} messages, {dropped} dropped)", path.display());
    }

    if let Some(path) = &args.shiviz {
        let include = |who: &str| args.clients || who.starts_with('n');
        let log = shiviz::export(&collected.events, &collected.later, scenario.nodes, include);
        write_atomically(path, log.text.as_bytes())
            .map_err(|e| CliError::from(anyhow!("cannot write the ShiViz log: {e}")))?;
        println!("shiviz       {} ({} events of {} processes)", path.display(), log.events, log.hosts);
        info(&format!(
            "ShiViz: open https://distributedclocks.github.io/shiviz/, paste {} as the log and this parser \
             regular expression:\n{SHIVIZ_REGEX}",
            path.display()
        ));
    }
    Ok(Outcome::Ok)
}
