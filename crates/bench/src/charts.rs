//! PNG charts of a report drawn with plotters: latency over time, delivered against offered load, and
//! server memory against sessions. Text needs a TrueType font: the first of `--font` and a few common
//! system paths that exists is registered once; without one, charts are skipped with a note.

use crate::report::Report;
use anyhow::{bail, Context};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
];

static FONT: OnceLock<Result<(), String>> = OnceLock::new();

/// Registers the font for chart text (once per process).
pub fn load_font(preferred: Option<&Path>) -> anyhow::Result<()> {
    let outcome = FONT.get_or_init(|| {
        let candidates = preferred
            .map(Path::to_path_buf)
            .into_iter()
            .chain(FONT_PATHS.iter().map(PathBuf::from));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                // plotters keeps fonts for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return Ok(());
                }
            }
        }
        Err("no TrueType font found for chart text (give --font PATH)".to_owned())
    });
    match outcome {
        Ok(()) => Ok(()),
        Err(e) => bail!("{e}"),
    }
}

/// Draws every chart the report has data for into `dir`, named after `stem`; returns the files written.
pub fn draw_all(report: &Report, dir: &Path, stem: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    if report.timeline.iter().any(|p| p.count > 0) {
        let path = dir.join(format!("{stem}-latency.png"));
        latency_over_time(report, &path)?;
        written.push(path);
    }
    if !report.steps.is_empty() {
        let path = dir.join(format!("{stem}-throughput.png"));
        throughput(report, &path)?;
        written.push(path);
    }
    if report.memory.as_ref().is_some_and(|m| m.samples.len() > 1) {
        let path = dir.join(format!("{stem}-memory.png"));
        memory(report, &path)?;
        written.push(path);
    }
    Ok(written)
}

fn title(report: &Report, what: &str) -> String {
    format!("{} {}: {what}", report.target, report.scenario)
}

fn latency_over_time(report: &Report, path: &Path) -> anyhow::Result<()> {
    let points: Vec<(f64, f64, f64)> = report
        .timeline
        .iter()
        .enumerate()
        .filter(|(_, p)| p.count > 0)
        .map(|(s, p)| (s as f64, p.p50_ms, p.p99_ms))
        .collect();
    let x_max = points.last().map(|p| p.0 + 1.0).unwrap_or(1.0);
    let y_max = points.iter().map(|p| p.2).fold(1.0, f64::max) * 1.1;
    let root = BitMapBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title(report, "delivery latency over time"), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds since start")
        .y_desc("latency (ms)")
        .draw()?;
    chart
        .draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.1)), &BLUE))?
        .label("p50")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE));
    chart
        .draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.2)), &RED))?
        .label("p99")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED));
    chart
        .configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()?;
    root.present().context("writing the latency chart")?;
    Ok(())
}

fn throughput(report: &Report, path: &Path) -> anyhow::Result<()> {
    let points: Vec<(f64, f64)> = report
        .steps
        .iter()
        .map(|s| (s.offered_rate, s.delivered_rate))
        .collect();
    let copies = report
        .steps
        .iter()
        .find(|s| s.deliveries.sent > 0)
        .map(|s| s.deliveries.expected as f64 / s.deliveries.sent as f64)
        .unwrap_or(1.0);
    let x_max = points.iter().map(|p| p.0).fold(1.0, f64::max) * 1.1;
    let y_max = points.iter().map(|p| p.1).fold(x_max * copies, f64::max) * 1.1;
    let root = BitMapBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            title(report, "delivered against offered load"),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("offered (messages/s)")
        .y_desc("delivered (messages/s)")
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            [(0.0, 0.0), (x_max, x_max * copies)],
            &BLACK.mix(0.3),
        ))?
        .label("everything delivered")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.mix(0.3)));
    chart
        .draw_series(LineSeries::new(points.iter().copied(), &BLUE))?
        .label("delivered")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE));
    chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, BLUE.filled())))?;
    chart
        .configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()?;
    root.present().context("writing the throughput chart")?;
    Ok(())
}

fn memory(report: &Report, path: &Path) -> anyhow::Result<()> {
    let memory = report.memory.as_ref().expect("checked by the caller");
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let points: Vec<(f64, f64)> = memory
        .samples
        .iter()
        .map(|&(s, rss)| (s as f64, mib(rss)))
        .collect();
    let x_max = points.iter().map(|p| p.0).fold(1.0, f64::max) * 1.05;
    let y_max = points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let root = BitMapBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!(
        "{} ({:.1} KiB per session)",
        title(report, "server memory"),
        memory.bytes_per_session / 1024.0
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("sessions logged in")
        .y_desc("server RSS (MiB)")
        .draw()?;
    chart.draw_series(LineSeries::new(points, &BLUE))?;
    root.present().context("writing the memory chart")?;
    Ok(())
}
