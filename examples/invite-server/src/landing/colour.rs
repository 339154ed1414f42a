//! Colours of a landing page and their contrast (WCAG 2.x relative
//! luminance and contrast ratio), and the URLs a page may show.

use std::fmt;

/// The contrast text needs against its background (WCAG AA, normal text).
pub(crate) const AA_TEXT: f64 = 4.5;

/// An sRGB colour, written `#rrggbb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rgb(pub(crate) u8, pub(crate) u8, pub(crate) u8);

impl Rgb {
    pub(crate) const BLACK: Rgb = Rgb(0, 0, 0);
    pub(crate) const WHITE: Rgb = Rgb(255, 255, 255);

    /// Parses `#rrggbb` or `#rgb` (case-insensitive); anything else is `None`.
    pub(crate) fn parse(s: &str) -> Option<Rgb> {
        let hex = s.trim().strip_prefix('#')?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |h: &str| u8::from_str_radix(h, 16).ok();
        match hex.len() {
            6 => Some(Rgb(byte(&hex[0..2])?, byte(&hex[2..4])?, byte(&hex[4..6])?)),
            3 => {
                let d = |i: usize| byte(&hex[i..=i]).map(|v| v * 17);
                Some(Rgb(d(0)?, d(1)?, d(2)?))
            }
            _ => None,
        }
    }

    /// The relative luminance, 0 (black) to 1 (white).
    pub(crate) fn luminance(self) -> f64 {
        let channel = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(self.0) + 0.7152 * channel(self.1) + 0.0722 * channel(self.2)
    }

    /// Black or white, whichever stands out more against `self`.
    pub(crate) fn readable_on(self) -> Rgb {
        if contrast(Rgb::BLACK, self) >= contrast(Rgb::WHITE, self) {
            Rgb::BLACK
        } else {
            Rgb::WHITE
        }
    }
}

impl fmt::Display for Rgb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// The contrast ratio of two colours, 1 to 21 (order does not matter).
pub(crate) fn contrast(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (a.luminance(), b.luminance());
    let (hi, lo) = if la >= lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

/// The ratio rounded down to two decimals, as shown to people (a ratio
/// shown as 4.50 is never one below 4.5).
pub(crate) fn shown(ratio: f64) -> String {
    format!("{:.2}", (ratio * 100.0).floor() / 100.0)
}

/// A page's colours as rendered: the stored ones when they are readable,
/// else corrected (text becomes black or white; an unreadable accent
/// becomes the text colour).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Palette {
    pub(crate) background: Rgb,
    pub(crate) text: Rgb,
    pub(crate) accent: Rgb,
    /// Text on the accent (buttons).
    pub(crate) on_accent: Rgb,
}

impl Palette {
    /// The default palette: dark text on white, a blue accent.
    pub(crate) const DEFAULT: Palette = Palette {
        background: Rgb::WHITE,
        text: Rgb(0x1f, 0x23, 0x28),
        accent: Rgb(0x0b, 0x5c, 0xad),
        on_accent: Rgb::WHITE,
    };

    /// The palette to render from stored colours (each may be missing or
    /// unreadable: the result always has AA contrast).
    pub(crate) fn readable(
        background: Option<&str>,
        text: Option<&str>,
        accent: Option<&str>,
    ) -> Palette {
        let d = Palette::DEFAULT;
        let background = background.and_then(Rgb::parse).unwrap_or(d.background);
        let mut text = text.and_then(Rgb::parse).unwrap_or(d.text);
        if contrast(text, background) < AA_TEXT {
            text = background.readable_on();
        }
        let mut accent = accent.and_then(Rgb::parse).unwrap_or(d.accent);
        if contrast(accent, background) < AA_TEXT {
            accent = text;
        }
        Palette {
            background,
            text,
            accent,
            on_accent: accent.readable_on(),
        }
    }
}

/// The longest URL a page keeps.
pub(crate) const MAX_URL: usize = 2048;

/// Checks a URL a page shows or links to: https, a host, no user name or
/// password, at most [`MAX_URL`] bytes. `data:image/…` URLs are accepted
/// where `allow_data_image` (logos and images may be inline) up to
/// 64 KiB. The reason when not.
pub(crate) fn check_url(value: &str, allow_data_image: bool) -> Result<String, String> {
    let value = value.trim();
    if allow_data_image && value.starts_with("data:image/") {
        if value.len() > 65_536 {
            return Err("an inline image may be at most 64 KiB".to_owned());
        }
        let ok = [
            "data:image/png;base64,",
            "data:image/jpeg;base64,",
            "data:image/webp;base64,",
            "data:image/svg+xml;base64,",
        ]
        .iter()
        .any(|p| value.starts_with(p));
        if !ok {
            return Err("an inline image must be base64 PNG, JPEG, WebP or SVG".to_owned());
        }
        return Ok(value.to_owned());
    }
    if value.len() > MAX_URL {
        return Err(format!("at most {MAX_URL} characters"));
    }
    let url = url::Url::parse(value).map_err(|e| format!("not a URL ({e})"))?;
    if url.scheme() != "https" {
        return Err("only https URLs are accepted".to_owned());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL may not carry a user name or password".to_owned());
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_ratios() {
        assert!((contrast(Rgb::BLACK, Rgb::WHITE) - 21.0).abs() < 1e-9);
        // #777 on white is the classic just-below-AA grey (4.48).
        let grey = Rgb::parse("#777").unwrap();
        assert_eq!(shown(contrast(grey, Rgb::WHITE)), "4.47");
        assert!(contrast(grey, Rgb::WHITE) < AA_TEXT);
        assert!(contrast(Rgb::parse("#767676").unwrap(), Rgb::WHITE) >= AA_TEXT);
        assert_eq!(Rgb::parse("#0B5CAD").unwrap().to_string(), "#0b5cad");
        assert_eq!(Rgb::parse("0b5cad"), None);
        assert_eq!(Rgb::parse("#0b5cag"), None);
        assert_eq!(Rgb::parse("#é12345"), None);
    }

    #[test]
    fn urls() {
        assert!(check_url("https://example.com/t", false).is_ok());
        assert!(check_url("http://example.com/t", false).is_err());
        assert!(check_url("https://u:p@example.com/", false).is_err());
        assert!(check_url("javascript:alert(1)", false).is_err());
        assert!(check_url("data:image/png;base64,AAAA", false).is_err());
        assert!(check_url("data:image/png;base64,AAAA", true).is_ok());
        assert!(check_url("data:text/html;base64,AAAA", true).is_err());
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL));
        assert!(check_url(&long, false).is_err());
    }

    fn rgb() -> impl Strategy<Value = Rgb> {
        (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(r, g, b)| Rgb(r, g, b))
    }

    proptest! {
        #[test]
        fn contrast_is_symmetric_and_bounded(a in rgb(), b in rgb()) {
            let x = contrast(a, b);
            prop_assert!((x - contrast(b, a)).abs() < 1e-12);
            prop_assert!((1.0..=21.0 + 1e-9).contains(&x));
            prop_assert!((contrast(a, a) - 1.0).abs() < 1e-12);
        }

        #[test]
        fn lighter_text_on_black_has_more_contrast(a in rgb()) {
            // Luminance order is contrast order against black.
            let white = contrast(Rgb::WHITE, Rgb::BLACK);
            prop_assert!(contrast(a, Rgb::BLACK) <= white + 1e-9);
        }

        #[test]
        fn black_or_white_is_always_readable(a in rgb()) {
            // One of black and white reaches 4.5:1 on any background.
            prop_assert!(contrast(a.readable_on(), a) >= AA_TEXT);
        }

        #[test]
        fn rendered_palette_is_always_readable(b in rgb(), t in rgb(), c in rgb()) {
            let p = Palette::readable(Some(&b.to_string()), Some(&t.to_string()), Some(&c.to_string()));
            prop_assert_eq!(p.background, b);
            prop_assert!(contrast(p.text, p.background) >= AA_TEXT);
            prop_assert!(contrast(p.accent, p.background) >= AA_TEXT);
            prop_assert!(contrast(p.on_accent, p.accent) >= AA_TEXT);
            if contrast(t, b) >= AA_TEXT {
                prop_assert_eq!(p.text, t);
            }
        }

        #[test]
        fn colour_parsing_round_trips(a in rgb()) {
            prop_assert_eq!(Rgb::parse(&a.to_string()), Some(a));
        }

        #[test]
        fn parse_never_panics(s in ".{0,12}") {
            let _ = Rgb::parse(&s);
        }
    }
}
