//! `trace.csv` and `spikes.csv`: RFC 4180 quoting, `\n` line ends, numbers that parse back to
//! the same bits.

use std::borrow::Cow;
use std::io::{self, Write};

use super::Recording;

/// Quotes a field per RFC 4180 when it contains `,`, `"`, `\r` or `\n` (inner quotes doubled).
pub fn quote_field(field: &str) -> Cow<'_, str> {
    if field.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", field.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(field)
    }
}

/// The shortest text that parses back to exactly `x`: Rust's `{}` (so `-65`, `0.025`, `-0`),
/// switching to `{:e}` (`1e-7`, `1.5e300`) outside `1e-5 <= |x| < 1e16` so that tiny and huge
/// values stay short; NaN is `nan`, infinities `inf` and `-inf`.
pub fn format_number(x: f64) -> String {
    if x.is_nan() {
        "nan".to_owned()
    } else if x == 0.0 || x.is_infinite() || (1e-5..1e16).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// `t,<label>,…` then one row per time.
pub fn write_trace_csv(w: &mut dyn Write, rec: &Recording) -> io::Result<()> {
    w.write_all(b"t")?;
    for label in &rec.labels {
        write!(w, ",{}", quote_field(label))?;
    }
    w.write_all(b"\n")?;
    for (row, &t) in rec.times.iter().enumerate() {
        w.write_all(format_number(t).as_bytes())?;
        for column in &rec.columns {
            write!(w, ",{}", format_number(column[row]))?;
        }
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// `gid,time` then one row per spike (header only when there are none).
pub fn write_spikes_csv(w: &mut dyn Write, spikes: &[(u32, f64)]) -> io::Result<()> {
    w.write_all(b"gid,time\n")?;
    for &(gid, t) in spikes {
        writeln!(w, "{gid},{}", format_number(t))?;
    }
    Ok(())
}
