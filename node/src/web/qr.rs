//! An invite as a QR code, drawn as SVG (one path, a quiet zone of four
//! modules) for the page to show as an image.

use qrcode::{Color, EcLevel, QrCode};

use super::WebError;

/// The SVG of `text`'s QR code.
pub(crate) fn svg(text: &str) -> Result<String, WebError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L)
        .map_err(|e| WebError::BadInput(format!("no QR code for this invite: {e}")))?;
    let width = code.width();
    let size = width + 8;
    let mut path = String::with_capacity(width * width * 4);
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == Color::Dark {
            let (x, y) = (i % width + 4, i / width + 4);
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" \
         shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{path}\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_invite_becomes_an_svg_with_dark_modules() -> Result<(), super::WebError> {
        let svg = super::svg("aura1example")?;
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.matches("h1v1h-1z").count() > 50);
        Ok(())
    }
}
