//! Terminal output helpers: stderr logging and NO_COLOR-aware colouring.

use std::io::IsTerminal;

fn colour_enabled(stream_is_terminal: bool) -> bool {
    stream_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Wraps `text` in an ANSI colour when stdout is a terminal and NO_COLOR is unset.
pub fn paint(text: &str, ansi: &str) -> String {
    if colour_enabled(std::io::stdout().is_terminal()) {
        format!("\x1b[{ansi}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

pub fn error(message: &str) {
    if colour_enabled(std::io::stderr().is_terminal()) {
        eprintln!("\x1b[31merror\x1b[0m: {message}");
    } else {
        eprintln!("error: {message}");
    }
}

pub fn info(message: &str) {
    eprintln!("{message}");
}

/// 1234567 -> "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The wall clock, for reporting how long a command took. Only the CLI reads
/// it; simulations run on virtual time.
#[allow(clippy::disallowed_methods)]
pub fn wall_now() -> std::time::Instant {
    std::time::Instant::now()
}
