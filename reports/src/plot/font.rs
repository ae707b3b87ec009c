//! The one font every plot uses, inside the binary: machines that run batches
//! often have no fonts installed at all, and plotters' system-font lookup
//! fails there. DejaVu Sans (Bitstream Vera license, see
//! `reports/assets/LICENSE-DejaVu.txt`) is registered with plotters'
//! ab_glyph text renderer under the family name the plots ask for.

use std::sync::OnceLock;

use plotters::style::FontStyle;

/// The family every plot's text names; SVG viewers render it with their own
/// sans-serif font.
pub const FAMILY: &str = "sans-serif";

static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Registers the embedded font (once per process); plots call it before drawing.
pub fn register() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS)
                .map_err(|_| "the embedded DejaVu Sans font could not be parsed".to_string())
        })
        .clone()
}
