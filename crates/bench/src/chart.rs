//! PNG line charts (plotters, bitmap backend, text through ab_glyph with a TTF read at run time).

use std::path::Path;

use plotters::prelude::*;

pub type Series = (String, Vec<(f64, f64)>);

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Registers the font every chart uses; false (charts are skipped) when it cannot be read.
pub fn register_font(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        eprintln!(
            "bench: no font at {} (apt-get install fonts-dejavu-core); charts skipped",
            path.display()
        );
        return false;
    };
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
}

fn bounds(series: &[Series]) -> (f64, f64, f64, f64) {
    let pts = series.iter().flat_map(|s| s.1.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return (0.0, 1.0, 0.0, 1.0);
    }
    (x0, x1.max(x0 + 1e-9), y0, y1.max(y0 + 1e-9))
}

/// A line chart; with `log_x` the x axis is logarithmic (values clamped to at least 1).
pub fn lines(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    log_x: bool,
) -> anyhow::Result<()> {
    let root = BitMapBackend::new(path, (960, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (x0, x1, _, y1) = bounds(series);
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64);
    macro_rules! draw {
        ($chart:expr, $clamp:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .label_style(("sans-serif", 14))
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| format!("{y:.0}"))
                .draw()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            for (i, (name, pts)) in series.iter().enumerate() {
                let c = COLORS[i % COLORS.len()];
                let clamp = $clamp;
                chart
                    .draw_series(LineSeries::new(
                        pts.iter().map(|&(x, y)| (clamp(x), y)),
                        c.stroke_width(2),
                    ))
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .label(name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 14))
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }};
    }
    if log_x {
        let chart = builder
            .build_cartesian_2d((1f64..x1.max(2.0) * 1.1).log_scale(), 0f64..y1 * 1.05)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        draw!(chart, |x: f64| x.max(1.0));
    } else {
        let chart = builder
            .build_cartesian_2d(x0.min(0.0)..x1, 0f64..y1 * 1.1)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        draw!(chart, |x: f64| x);
    }
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
