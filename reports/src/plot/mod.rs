//! The report's plots, each drawn once for SVG and once for PNG from the same
//! code, with the embedded font ([`font`]). Every figure is a pure function of
//! the batch's records, so the same batch gives the same bytes.

pub mod cap;
pub mod cdf;
pub mod compare;
pub mod font;
pub mod timeline;
pub mod trials;

use plotters::coord::Shift;
use plotters::prelude::*;

/// A figure that can be drawn on any plotters backend.
pub trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

pub type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// One figure as an SVG document and a PNG image.
pub struct Rendered {
    pub svg: String,
    pub png: Vec<u8>,
}

/// Draws `figure` twice: into an SVG string and into an RGB buffer encoded as PNG.
pub fn render(figure: &impl Figure) -> Result<Rendered, String> {
    font::register()?;
    let (width, height) = figure.size();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        figure.draw(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        figure.draw(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(Rendered { svg, png: encode_png(&rgb, width, height)? })
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Best);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(png)
}

/// Series colours (Tableau 10), in scenario order; they repeat past ten.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Text of `size` pixels in the embedded font.
pub fn text(size: u32) -> TextStyle<'static> {
    (font::FAMILY, size).into_font().into()
}

/// `name` cut to `max_chars` characters, for labels inside plots.
pub fn short(name: &str, max_chars: usize) -> String {
    if name.chars().count() <= max_chars {
        name.to_string()
    } else {
        format!("{}…", name.chars().take(max_chars.saturating_sub(1)).collect::<String>())
    }
}

/// Places text labels next to points so that they do not overlap: each
/// label takes a box of pixels, and a label whose box is taken moves down or
/// up a line at a time until it finds room.
#[derive(Default)]
pub struct LabelPlacer {
    taken: Vec<(i32, i32, i32, i32)>,
}

impl LabelPlacer {
    /// Keeps labels off a square of half-width `r` around `centre` (a marker).
    pub fn reserve(&mut self, centre: (i32, i32), r: i32) {
        self.taken.push((centre.0 - r, centre.1 - r, 2 * r, 2 * r));
    }

    /// The offset from `anchor` (pixels) at which a `width` x `height` label
    /// wanted at offset `(dx, dy)` (its top left corner) fits.
    pub fn place(&mut self, anchor: (i32, i32), (dx, dy): (i32, i32), width: i32, height: i32) -> (i32, i32) {
        let step = height + 2;
        let tries = [0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5];
        let overlaps = |x: i32, y: i32, t: &(i32, i32, i32, i32)| {
            x < t.0 + t.2 && t.0 < x + width && y < t.1 + t.3 && t.1 < y + height
        };
        for k in tries {
            let (x, y) = (anchor.0 + dx, anchor.1 + dy + k * step);
            if !self.taken.iter().any(|t| overlaps(x, y, t)) {
                self.taken.push((x, y, width, height));
                return (dx, dy + k * step);
            }
        }
        (dx, dy)
    }
}
