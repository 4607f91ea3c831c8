//! `trace.svg` and `raster.svg`, drawn with `plotters`' SVG backend alone. No font library is
//! linked: the SVG backend writes text as `<text>` elements that the viewer renders, and
//! plotters only estimates text sizes for layout, so labels, ticks and the legend all work.

use std::error::Error;
use std::ops::Range;

use plotters::prelude::*;

use super::Recording;

const SIZE: (u32, u32) = (1000, 600);
/// Samples kept per line: long traces are reduced to the min and max of each bucket, which
/// draws the same envelope at this resolution with a bounded file size.
const MAX_POINTS: usize = 4000;
/// Legend rows before the rest are summarised as "… N more".
const MAX_LEGEND: usize = 20;

type Res = Result<(), Box<dyn Error>>;

/// One line per probe column, one panel per unit, distinct colours and a legend per panel.
pub fn trace_svg(rec: &Recording) -> Result<String, String> {
    let mut svg = String::new();
    draw_trace(&mut svg, rec).map_err(|e| e.to_string())?;
    Ok(svg)
}

/// Spike raster: a short vertical tick at (time, gid) for each spike.
pub fn raster_svg(spikes: &[(u32, f64)]) -> Result<String, String> {
    let mut svg = String::new();
    draw_raster(&mut svg, spikes).map_err(|e| e.to_string())?;
    Ok(svg)
}

fn draw_trace(svg: &mut String, rec: &Recording) -> Res {
    // One panel per unit, in the order the units first appear.
    let unit_of = |c: usize| rec.units.get(c).map_or("", String::as_str);
    let mut units: Vec<&str> = Vec::new();
    for c in 0..rec.columns.len() {
        if !units.contains(&unit_of(c)) {
            units.push(unit_of(c));
        }
    }
    if units.is_empty() {
        units.push("");
    }
    let height = SIZE.1.max(300 * units.len() as u32);
    let root = SVGBackend::with_string(svg, (SIZE.0, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled("Probes", ("sans-serif", 22))?;
    let x = range(rec.times.iter().copied(), 0.0);
    for (panel, unit) in root.split_evenly((units.len(), 1)).iter().zip(&units) {
        let columns: Vec<usize> = (0..rec.columns.len()).filter(|&c| unit_of(c) == *unit).collect();
        let y = range(columns.iter().flat_map(|&c| rec.columns[c].iter().copied()), 0.05);
        let mut chart = ChartBuilder::on(panel)
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x.clone(), y.clone())?;
        let y_desc = if unit.is_empty() { "value".to_string() } else { (*unit).to_string() };
        chart.configure_mesh().x_desc("t (ms)").y_desc(y_desc).draw()?;
        let n = columns.len();
        for (k, &c) in columns.iter().enumerate() {
            let colour = colour(c);
            let style = ShapeStyle::from(&colour).stroke_width(2);
            let mut labelled = false;
            for segment in segments(&rec.times, &rec.columns[c]) {
                // Off-range points (beyond ±1e300) would overflow plotters' pixel arithmetic.
                let points = segment.into_iter().map(|(t, v)| (clamp(t, &x), clamp(v, &y)));
                let series = chart.draw_series(LineSeries::new(points, style))?;
                let wants_label = k + 1 < MAX_LEGEND || (k + 1 == MAX_LEGEND && n == MAX_LEGEND);
                if !labelled && wants_label {
                    let label = rec.labels[c].as_str();
                    series.label(label).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
                    labelled = true;
                }
            }
        }
        if n > MAX_LEGEND {
            chart
                .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
                .label(format!("… {} more", n - (MAX_LEGEND - 1)))
                .legend(|(x, y)| PathElement::new(vec![(x, y)], TRANSPARENT));
        }
        if n > 0 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
        }
    }
    root.present()?;
    Ok(())
}

fn draw_raster(svg: &mut String, spikes: &[(u32, f64)]) -> Res {
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let x = range(spikes.iter().map(|s| s.1), 0.02);
    let lo = spikes.iter().map(|s| s.0).min().unwrap_or(0) as f64;
    let hi = spikes.iter().map(|s| s.0).max().unwrap_or(0) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption("Spikes", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x.clone(), (lo - 0.5)..(hi + 0.5))?;
    let whole = |y: &f64| {
        if (y - y.round()).abs() < 1e-9 { format!("{}", y.round()) } else { String::new() }
    };
    chart.configure_mesh().x_desc("t (ms)").y_desc("gid").y_label_formatter(&whole).draw()?;
    let style = ShapeStyle::from(&BLACK).stroke_width(1);
    chart.draw_series(spikes.iter().filter(|s| s.1.is_finite()).map(|&(gid, t)| {
        let g = gid as f64;
        let t = clamp(t, &x);
        PathElement::new(vec![(t, g - 0.4), (t, g + 0.4)], style)
    }))?;
    root.present()?;
    Ok(())
}

/// The range of the finite values, widened by `pad` of its width. Kept within ±1e300 and at
/// least a little wide, since plotters cannot place ticks on an infinite or vanishing range.
fn range(values: impl Iterator<Item = f64>, pad: f64) -> Range<f64> {
    const LIMIT: f64 = 1e300;
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .map(|v| v.clamp(-LIMIT, LIMIT))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return 0.0..1.0;
    }
    let least = (lo.abs().max(hi.abs()) * 1e-9).max(1e-12);
    if hi - lo < least {
        let mid = lo / 2.0 + hi / 2.0;
        return (mid - least).max(-1.1 * LIMIT)..(mid + least).min(1.1 * LIMIT);
    }
    let d = (hi - lo) * pad;
    (lo - d)..(hi + d)
}

fn clamp(v: f64, r: &Range<f64>) -> f64 {
    v.clamp(r.start, r.end)
}

/// The line through `(times, values)`, broken where a value is not finite, with each bucket
/// of samples reduced to its minimum and maximum (in time order) when the trace is long.
fn segments(times: &[f64], values: &[f64]) -> Vec<Vec<(f64, f64)>> {
    let bucket = times.len().div_ceil(MAX_POINTS / 2).max(1);
    let mut out = Vec::new();
    let mut current = Vec::new();
    for start in (0..times.len()).step_by(bucket) {
        let end = (start + bucket).min(times.len());
        let (mut lo, mut hi) = (None::<usize>, None::<usize>);
        for i in start..end {
            if !(times[i].is_finite() && values[i].is_finite()) {
                flush(&mut current, lo, hi, times, values);
                (lo, hi) = (None, None);
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                continue;
            }
            if lo.is_none_or(|l| values[i] < values[l]) {
                lo = Some(i);
            }
            if hi.is_none_or(|h| values[i] > values[h]) {
                hi = Some(i);
            }
        }
        flush(&mut current, lo, hi, times, values);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn flush(line: &mut Vec<(f64, f64)>, lo: Option<usize>, hi: Option<usize>, t: &[f64], v: &[f64]) {
    let (Some(a), Some(b)) = (lo, hi) else { return };
    let (a, b) = (a.min(b), a.max(b));
    line.push((t[a], v[a]));
    if b != a {
        line.push((t[b], v[b]));
    }
}

/// Tableau 10, then evenly spread hues for further lines.
fn colour(i: usize) -> RGBColor {
    const TABLEAU: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    if let Some(&(r, g, b)) = TABLEAU.get(i) {
        return RGBColor(r, g, b);
    }
    let hue = (i as f64 * 0.618_033_988_75).fract();
    let (r, g, b) = HSLColor(hue, 0.65, 0.45).rgb();
    RGBColor(r, g, b)
}

/// The loss against the iteration: a log scale when every loss is positive and finite, else
/// linear.
pub fn loss_svg(losses: &[f64], x_desc: &str) -> Result<String, String> {
    let mut svg = String::new();
    draw_loss(&mut svg, losses, x_desc).map_err(|e| e.to_string())?;
    Ok(svg)
}

fn draw_loss(svg: &mut String, losses: &[f64], x_desc: &str) -> Res {
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let iterations: Vec<f64> = (0..losses.len()).map(|i| i as f64).collect();
    let x = 0.0..(losses.len().saturating_sub(1) as f64).max(1.0);
    let style = ShapeStyle::from(&colour(0)).stroke_width(2);
    let mut builder = ChartBuilder::on(&root);
    builder.caption("Loss", ("sans-serif", 22)).margin(15).x_label_area_size(45).y_label_area_size(80);
    let positive = !losses.is_empty() && losses.iter().all(|l| l.is_finite() && *l > 0.0);
    if positive {
        let lo = losses.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = losses.iter().copied().fold(0.0, f64::max);
        // At least a factor of 10 tall, so that the axis has ticks.
        let (lo, hi) =
            if hi / lo < 10.0 { ((lo * hi).sqrt() / 3.2, (lo * hi).sqrt() * 3.2) } else { (lo / 1.2, hi * 1.2) };
        let mut chart = builder.build_cartesian_2d(x.clone(), (lo..hi).log_scale())?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("loss (log scale)")
            .y_label_formatter(&|y| format!("{y:.1e}"))
            .draw()?;
        for segment in segments(&iterations, losses) {
            chart.draw_series(LineSeries::new(segment, style))?;
        }
    } else {
        let y = range(losses.iter().copied(), 0.05);
        let mut chart = builder.build_cartesian_2d(x.clone(), y.clone())?;
        chart.configure_mesh().x_desc(x_desc).y_desc("loss").draw()?;
        for segment in segments(&iterations, losses) {
            let points = segment.into_iter().map(|(i, l)| (i, clamp(l, &y)));
            chart.draw_series(LineSeries::new(points, style))?;
        }
    }
    root.present()?;
    Ok(())
}
