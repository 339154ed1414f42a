//! The QR code of a page's canonical URL: SVG (inline on the page and at
//! `/p/{slug}/qr.svg`) and a PNG for print (`/p/{slug}/qr.png`), both drawn
//! from the same module matrix.

use qrcode::{Color, EcLevel, QrCode};

/// Modules of light margin around the code (the standard's quiet zone).
pub(crate) const QUIET: usize = 4;

/// Pixels per module in the PNG (a 33-module code prints at 328 px).
pub(crate) const PNG_SCALE: usize = 8;

/// The QR code of `url` (error correction M), or `None` when the text is
/// too long for any version (a canonical URL never is).
pub(crate) fn code(url: &str) -> Option<QrCode> {
    QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M).ok()
}

/// The code as a standalone SVG document (dark modules on white).
pub(crate) fn svg(code: &QrCode) -> String {
    code.render::<qrcode::render::svg::Color<'_>>()
        .quiet_zone(true)
        .module_dimensions(1, 1)
        .dark_color(qrcode::render::svg::Color("#000"))
        .light_color(qrcode::render::svg::Color("#fff"))
        .build()
}

/// The SVG element alone, to place inside an HTML page.
pub(crate) fn inline_svg(code: &QrCode) -> String {
    let doc = svg(code);
    match doc.find("<svg") {
        Some(at) => doc[at..].to_owned(),
        None => doc,
    }
}

/// The modules, row by row (`true` is dark), with the quiet zone.
pub(crate) fn matrix(code: &QrCode) -> Vec<Vec<bool>> {
    let n = code.width();
    let colors = code.to_colors();
    let side = n + 2 * QUIET;
    let mut rows = vec![vec![false; side]; side];
    for y in 0..n {
        for x in 0..n {
            rows[y + QUIET][x + QUIET] = colors[y * n + x] == Color::Dark;
        }
    }
    rows
}

/// The code as a PNG: 8-bit greyscale, [`PNG_SCALE`] pixels per module.
pub(crate) fn png(code: &QrCode) -> Result<Vec<u8>, png::EncodingError> {
    let rows = matrix(code);
    let side = rows.len() * PNG_SCALE;
    let mut pixels = Vec::with_capacity(side * side);
    for row in &rows {
        let mut line = Vec::with_capacity(side);
        for &dark in row {
            line.extend(std::iter::repeat_n(
                if dark { 0u8 } else { 255u8 },
                PNG_SCALE,
            ));
        }
        for _ in 0..PNG_SCALE {
            pixels.extend_from_slice(&line);
        }
    }
    let side = u32::try_from(side).map_err(|_| png::EncodingError::LimitsExceeded)?;
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::High);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
        writer.finish()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a PNG back to its module matrix (sampling each module's centre).
    fn modules_of(bytes: &[u8]) -> Vec<Vec<bool>> {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let side = info.width as usize / PNG_SCALE;
        (0..side)
            .map(|y| {
                (0..side)
                    .map(|x| {
                        let px = (y * PNG_SCALE + PNG_SCALE / 2) * info.width as usize
                            + x * PNG_SCALE
                            + PNG_SCALE / 2;
                        buf[px] < 128
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn png_holds_the_matrix_of_the_url() {
        let url = "https://invite.example/p/demo-season";
        let c = code(url).unwrap();
        let png = png(&c).unwrap();
        assert_eq!(modules_of(&png), matrix(&c));
        // The same matrix comes from encoding the same text again, and not
        // from another text.
        assert_eq!(matrix(&code(url).unwrap()), matrix(&c));
        assert_ne!(
            matrix(&code("https://invite.example/p/other").unwrap()),
            matrix(&c)
        );
    }

    #[test]
    fn svg_draws_every_dark_module() {
        let c = code("https://invite.example/p/x").unwrap();
        let svg = inline_svg(&c);
        assert!(svg.starts_with("<svg"));
        let dark = c.to_colors().iter().filter(|m| **m == Color::Dark).count();
        // Each dark module is drawn once (runs are merged into one rect).
        let drawn: usize = svg
            .split('M')
            .skip(1)
            .map(|seg| {
                let h = seg.split('h').nth(1).and_then(|r| r.split('v').next());
                h.and_then(|w| w.parse::<usize>().ok()).unwrap_or(0)
            })
            .sum();
        assert_eq!(drawn, dark);
    }
}
