//! GPX 1.1 export of location history.

use std::fmt::Write;

use super::Fix;

/// Renders one `<trk>` per named track of fixes as a GPX 1.1 document.
pub fn to_gpx(tracks: &[(String, Vec<Fix>)]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gpx version=\"1.1\" creator=\"aura\" \
         xmlns=\"http://www.topografix.com/GPX/1/1\">\n",
    );
    for (name, fixes) in tracks {
        let _ = writeln!(out, "  <trk><name>{}</name><trkseg>", escape(name));
        for f in fixes {
            let _ = writeln!(
                out,
                "    <trkpt lat=\"{:.7}\" lon=\"{:.7}\"><time>{}</time></trkpt>",
                f.pos.lat,
                f.pos.lon,
                rfc3339(f.at_ms)
            );
        }
        out.push_str("  </trkseg></trk>\n");
    }
    out.push_str("</gpx>\n");
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Unix milliseconds as an RFC 3339 UTC timestamp (civil-from-days algorithm).
fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::{Position, Precision};

    #[test]
    fn gpx_has_points_and_times() {
        let fix = Fix {
            pos: Position::new(45.5, 6.25).unwrap(),
            at_ms: 1_700_000_000_123,
            precision: Precision::Exact,
        };
        let g = to_gpx(&[("a<b".into(), vec![fix])]);
        assert!(g.contains("<name>a&lt;b</name>"));
        assert!(g.contains("lat=\"45.5000000\" lon=\"6.2500000\""));
        assert!(g.contains("<time>2023-11-14T22:13:20.123Z</time>"));
    }
}
