//! Shared pieces of calinvite's examples.
//!
//! [`wrap_ics`] turns a bare `.ics` file into a message; [`spec`] reads an event, a sender and a recipient from a small TOML or JSON
//! file, as the `render` previewer and the tests use it.

pub mod spec;

/// Wraps a bare iCalendar file in a minimal message, as a client would mail
/// it: `text/calendar` with the file's METHOD on the Content-Type.
pub fn wrap_ics(ics: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(ics);
    let method = text
        .lines()
        .find_map(|l| {
            l.trim_end()
                .strip_prefix("METHOD:")
                .map(|m| m.trim().to_ascii_uppercase())
        })
        .filter(|m| m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let mut out = Vec::with_capacity(ics.len() + 256);
    out.extend_from_slice(b"MIME-Version: 1.0\r\nContent-Type: text/calendar; charset=UTF-8");
    if let Some(m) = method {
        out.extend_from_slice(b"; method=");
        out.extend_from_slice(m.as_bytes());
    }
    out.extend_from_slice(b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
    out.extend_from_slice(ics);
    out
}
