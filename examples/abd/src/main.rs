//! faultline's whole command line, with the ABD register added to the
//! shipped protocols: `faultline-abd run scenarios/clean.toml`.

use std::process::ExitCode;

fn main() -> ExitCode {
    faultline::main_with(&[&faultline_example_abd::ENTRY])
}
