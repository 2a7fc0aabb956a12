//! The chart: headline wall ns/task for the library, the hand-written baselines and the
//! original, as a horizontal bar chart on a log scale (the original is ~100x the others).
//! Bars are medians over the repetitions, whiskers their min–max; each runtime's title
//! carries the library's per-repetition ratios. Plain SVG text, so the suite needs no
//! plotting dependency.

use std::fmt::Write;

use crate::config::HEADLINE_IN_FLIGHT;
use crate::contenders::Which;
use crate::machine::Machine;
use crate::runtime::Flavor;
use crate::scenarios::throughput::Clock;
use crate::scenarios::Results;
use crate::steps::Steps;

struct Bar {
    label: &'static str,
    color: &'static str,
    value: Option<f64>,
    /// Least and greatest repetition, when repeated.
    range: Option<(f64, f64)>,
}

struct Group {
    title: String,
    bars: Vec<Bar>,
}

const LABEL_WIDTH: f64 = 220.0;
const PLOT_WIDTH: f64 = 560.0;
const VALUE_WIDTH: f64 = 90.0;
const ROW: f64 = 24.0;
const GROUP_GAP: f64 = 30.0;
const TOP: f64 = 64.0;

fn color(which: Which) -> &'static str {
    match which {
        Which::Empty => "#9e9e9e",
        Which::Plain => "#5b8def",
        Which::Token => "#f0a030",
        Which::Tuned => "#9467bd",
        Which::Library => "#2ca02c",
    }
}

fn chart_label(which: Which) -> &'static str {
    match which {
        Which::Empty => "empty task (floor)",
        Which::Plain => "hand-written, no cancel",
        Which::Token => "hand-written, token + registry",
        Which::Tuned => "hand-written, tuned (flag + waker)",
        Which::Library => "library #[flow]",
    }
}

fn groups(results: &Results, machine: &Machine) -> Vec<Group> {
    let mut groups: Vec<Group> = Flavor::ALL
        .into_iter()
        .map(|flavor| {
            let runtime = match flavor {
                Flavor::CurrentThread => "tokio current_thread".to_string(),
                Flavor::MultiThread => format!("tokio multi_thread ({} workers)", machine.cores),
            };
            let headline = results.throughput_group(flavor, Steps::Three, HEADLINE_IN_FLIGHT);
            let ratios: Vec<String> = Which::BASELINES
                .into_iter()
                .filter_map(|baseline| {
                    let spread = headline?.ratio(Which::Library, baseline, Clock::Wall)?;
                    Some(format!(
                        "library / {} {:.2} ({:.2}–{:.2})",
                        baseline.name(),
                        spread.median,
                        spread.min,
                        spread.max
                    ))
                })
                .collect();
            Group {
                title: if ratios.is_empty() {
                    runtime
                } else {
                    format!("{runtime}: {}", ratios.join(", "))
                },
                bars: Which::ALL
                    .into_iter()
                    .map(|which| {
                        let row = results.headline_row(which, flavor);
                        let walls = || row.into_iter().flat_map(|r| &r.samples).map(|s| s.wall_ns);
                        Bar {
                            label: chart_label(which),
                            color: color(which),
                            value: row.map(|row| row.cost.wall_ns),
                            range: row.map(|_| {
                                (
                                    walls().fold(f64::INFINITY, f64::min),
                                    walls().fold(0.0, f64::max),
                                )
                            }),
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    let original = |yield_name| {
        results
            .original
            .figure(yield_name, 3, HEADLINE_IN_FLIGHT)
            .map(|figure| figure.wall_ns)
    };
    groups.push(Group {
        title: "original @sisense/task-manager, node".to_string(),
        bars: vec![
            Bar {
                label: "yield = setImmediate",
                color: "#d62728",
                value: original("setImmediate"),
                range: None,
            },
            Bar {
                label: "yield = microtask",
                color: "#ff9896",
                value: original("microtask"),
                range: None,
            },
        ],
    });
    groups
}

fn format_ns(value: f64) -> String {
    if value >= 10_000.0 {
        format!("{:.1} µs", value / 1_000.0)
    } else if value >= 1_000.0 {
        format!("{:.2} µs", value / 1_000.0)
    } else {
        format!("{value:.0} ns")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn render(results: &Results, machine: &Machine) -> String {
    let groups = groups(results, machine);
    let values: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.bars.iter())
        .flat_map(|b| [b.value, b.range.map(|r| r.0), b.range.map(|r| r.1)])
        .flatten()
        .filter(|v| *v > 0.0)
        .collect();
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(0.0, f64::max);
    // Whole decades around the data, at least 100 ns to 10 µs.
    let decade_low = if low.is_finite() {
        low.log10().floor().min(2.0)
    } else {
        2.0
    };
    let decade_high = if high > 0.0 {
        high.log10().ceil().max(4.0)
    } else {
        4.0
    };
    let x = |value: f64| {
        LABEL_WIDTH + PLOT_WIDTH * (value.log10() - decade_low) / (decade_high - decade_low)
    };

    let rows: usize = groups.iter().map(|g| g.bars.len() + 1).sum();
    let height = TOP + rows as f64 * ROW + groups.len() as f64 * GROUP_GAP + 30.0;
    let width = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0}" viewBox="0 0 {width} {height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">Wall time per task: 3 steps, {HEADLINE_IN_FLIGHT} in flight (median, whiskers min–max; log scale, shorter is better)</text>"#
    );
    let _ = writeln!(
        svg,
        r##"<text x="10" y="40" fill="#555">{}</text>"##,
        escape(&machine.describe())
    );

    let plot_bottom = height - 30.0;
    for decade in (decade_low as i32)..=(decade_high as i32) {
        let value = 10f64.powi(decade);
        let at = x(value);
        let _ = writeln!(
            svg,
            r##"<line x1="{at:.1}" y1="{TOP}" x2="{at:.1}" y2="{plot_bottom:.1}" stroke="#ddd"/>"##
        );
        let _ = writeln!(
            svg,
            r##"<text x="{at:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            plot_bottom + 16.0,
            format_ns(value)
        );
    }

    let mut y = TOP;
    for group in &groups {
        y += ROW;
        let _ = writeln!(
            svg,
            r#"<text x="10" y="{:.1}" font-weight="bold">{}</text>"#,
            y - 6.0,
            escape(&group.title)
        );
        for bar in &group.bars {
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LABEL_WIDTH - 8.0,
                y + ROW * 0.65,
                escape(bar.label)
            );
            match bar.value {
                Some(value) if value > 0.0 => {
                    let end = x(value);
                    let _ = writeln!(
                        svg,
                        r#"<rect x="{LABEL_WIDTH}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
                        y + 3.0,
                        (end - LABEL_WIDTH).max(1.0),
                        ROW - 6.0,
                        bar.color
                    );
                    let mut label_at = end;
                    if let Some((least, most)) = bar.range.filter(|(least, _)| *least > 0.0) {
                        let (from, to, middle) = (x(least), x(most), y + ROW / 2.0);
                        let _ = writeln!(
                            svg,
                            r##"<path d="M{from:.1} {:.1}V{:.1}M{from:.1} {middle:.1}H{to:.1}M{to:.1} {:.1}V{:.1}" stroke="#333" fill="none"/>"##,
                            middle - 4.0,
                            middle + 4.0,
                            middle - 4.0,
                            middle + 4.0
                        );
                        label_at = label_at.max(to);
                    }
                    let _ = writeln!(
                        svg,
                        r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                        label_at + 6.0,
                        y + ROW * 0.65,
                        format_ns(value)
                    );
                }
                _ => {
                    let _ = writeln!(
                        svg,
                        r##"<text x="{:.1}" y="{:.1}" fill="#999">not measured</text>"##,
                        LABEL_WIDTH + 6.0,
                        y + ROW * 0.65
                    );
                }
            }
            y += ROW;
        }
        y += GROUP_GAP;
    }
    svg.push_str("</svg>\n");
    svg
}
