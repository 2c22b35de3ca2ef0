//! QR codes as inline SVG, drawn on the server (no external service, no script): one path of
//! unit squares on a white background with a four-module quiet zone.

use qrcodegen::{QrCode, QrCodeEcc};

/// The SVG of a QR code for `text`, or `None` if it does not fit in a QR code.
#[must_use]
pub fn svg(text: &str, label: &str) -> Option<String> {
    let code = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let size = code.size();
    let border = 4;
    let dim = size + 2 * border;
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if code.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    let label: String = label
        .chars()
        .filter(|c| c.is_alphanumeric() || " .-()@".contains(*c))
        .collect();
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {dim} {dim}\" width=\"220\" height=\"220\" role=\"img\" aria-label=\"{label}\" shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_square_svg_without_markup_from_the_label() {
        let svg = svg("otpauth://totp/x?secret=ABC", "QR <script>").unwrap_or_default();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("M4,4h1v1h-1z"), "finder pattern corner");
        assert!(!svg.contains("<script"));
    }
}
