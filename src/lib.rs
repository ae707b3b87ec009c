//! faultline as a library: the whole command line, for users who run
//! protocols of their own. A downstream crate defines its protocol against
//! [`protocols::harness::Protocol`], makes an entry with
//! [`protocols::harness::entry`], and calls [`main_with`] from its `main`;
//! `run`, `batch`, `explore`, `shrink`, `replay` and the reports then know
//! the protocol as they know the shipped ones (README, "Writing your own
//! protocol").

mod cli;
mod commands;
mod output;

use std::process::ExitCode;
use std::sync::OnceLock;

use clap::Parser;

pub use faultline_protocols as protocols;
pub use faultline_reports as reports;
pub use faultline_scenario as scenario;
pub use faultline_sim as sim;

use faultline_protocols::{ProtocolEntry, Registry};

/// The protocols this process runs, fixed once by [`main_with`] before any
/// command starts.
static REGISTRY: OnceLock<Registry> = OnceLock::new();

pub(crate) fn registry() -> &'static Registry {
    REGISTRY.get_or_init(Registry::builtin)
}

/// The name this program was started as (`faultline`, or a downstream
/// crate's own binary), for the commands it prints for the user to run.
pub(crate) fn program() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::env::args_os()
            .next()
            .and_then(|a| std::path::Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "faultline".to_string())
    })
}

/// Output piped into `head` or a pager that quits early must end the
/// program quietly, as it does for other command-line tools, instead of
/// failing on every later write.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: resetting a signal disposition to its default at startup, before
    // any other thread exists, has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Runs the `faultline` command line with the shipped protocols plus
/// `extra` (an extra protocol with a shipped one's name replaces it), and
/// returns the exit code: 0 ok, 1 a check failed, 2 bad input, 3 unknown.
pub fn main_with(extra: &[&'static ProtocolEntry]) -> ExitCode {
    restore_default_sigpipe();
    if REGISTRY.set(Registry::with(extra)).is_err() {
        output::error("faultline::main_with was called twice in one process");
        return ExitCode::from(1);
    }
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(2),
            };
        }
    };
    match commands::dispatch(cli) {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            output::error(&format!("{e:#}"));
            ExitCode::from(e.exit_code())
        }
    }
}
