//! The `faultline` command line. Thin: it parses arguments, calls the library
//! crates and maps the result to an exit code — 0 ok, 1 a check failed,
//! 2 bad input.

mod cli;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;

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

fn main() -> ExitCode {
    restore_default_sigpipe();
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

/// mimalloc: a simulation allocates and frees many small messages, log
/// entries and history records; it runs the Raft throughput scenario about
/// a fifth faster than the system allocator. Allocation addresses never reach
/// a simulation, so the allocator cannot change a run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
