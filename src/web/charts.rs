//! Charts drawn on the server as SVG, so that pages need no script. Each chart has a title
//! and labelled axes; the page puts the same figures in a table beneath it, for screen
//! readers and for anyone who wants the numbers.

use chrono::NaiveDate;
use plotters::prelude::*;

const WIDTH: u32 = 760;
const HEIGHT: u32 = 340;
const NHS_BLUE: RGBColor = RGBColor(0, 94, 184);
const NHS_RED: RGBColor = RGBColor(213, 40, 27);
const WARM_YELLOW: RGBColor = RGBColor(255, 184, 28);
const DARK: RGBColor = RGBColor(33, 43, 50);
const GREEN: RGBColor = RGBColor(0, 127, 59);

/// Marks the SVG as one image named by its title, for assistive technology.
fn labelled(svg: String, title: &str) -> String {
    let title = title
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;");
    svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{title}\" "),
        1,
    )
}

/// Bars of hours by hand with hours on pulled periods stacked on top, one bar per label.
pub fn stacked_hours(title: &str, labels: &[String], manual: &[f64], automated: &[f64]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let top = manual
            .iter()
            .zip(automated)
            .map(|(m, a)| m + a)
            .fold(0.0f64, f64::max)
            .max(1.0)
            // Room above the tallest bar for the legend, which would otherwise cover it.
            * 1.45;
        let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let n = labels.len().max(1);
            let mut chart = ChartBuilder::on(&root)
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d((0..n).into_segmented(), 0.0..top)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_desc("Month")
                .y_desc("Staff hours")
                .x_label_formatter(&|x| match x {
                    SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                    _ => String::new(),
                })
                .label_style(("sans-serif", 13).into_font().color(&DARK))
                .axis_desc_style(("sans-serif", 14).into_font().color(&DARK))
                .draw()?;
            chart
                .draw_series(manual.iter().enumerate().map(|(i, m)| {
                    Rectangle::new(
                        [
                            (SegmentValue::Exact(i), 0.0),
                            (SegmentValue::Exact(i + 1), *m),
                        ],
                        WARM_YELLOW.filled(),
                    )
                }))?
                .label("By hand")
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], WARM_YELLOW.filled())
                });
            chart
                .draw_series(manual.iter().zip(automated).enumerate().map(|(i, (m, a))| {
                    Rectangle::new(
                        [
                            (SegmentValue::Exact(i), *m),
                            (SegmentValue::Exact(i + 1), m + a),
                        ],
                        NHS_BLUE.filled(),
                    )
                }))?
                .label("Periods pulled from a source")
                .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], NHS_BLUE.filled()));
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.9))
                .border_style(DARK)
                .label_font(("sans-serif", 13).into_font().color(&DARK))
                .position(SeriesLabelPosition::UpperRight)
                .draw()?;
            root.present()?;
            Ok(())
        })();
        if let Err(e) = drawn {
            tracing::warn!(error = %e, "Could not draw a chart.");
        }
    }
    labelled(svg, title)
}

/// The trajectory's straight line from baseline to goal, DAP's cap as a level line where
/// one is set, and the estimated burden as it stepped with each decision (`history`, oldest
/// first), ending at today's total as a point.
pub fn trajectory(
    title: &str,
    line: &[(NaiveDate, f64)],
    history: &[(NaiveDate, f64)],
    cap: Option<f64>,
) -> String {
    let today = history.last().copied();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let dates: Vec<NaiveDate> = line
                .iter()
                .map(|p| p.0)
                .chain(history.iter().map(|t| t.0))
                .collect();
            let (Some(first), Some(last)) = (dates.iter().min(), dates.iter().max()) else {
                return Ok(());
            };
            let span = (*last - *first).num_days().max(1) as f64;
            let x = |d: NaiveDate| (d - *first).num_days() as f64;
            let top = line
                .iter()
                .map(|p| p.1)
                .chain(history.iter().map(|t| t.1))
                .chain(cap)
                .fold(0.0f64, f64::max)
                .max(1.0)
                * 1.15;
            let mut chart = ChartBuilder::on(&root)
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(0.0..span, 0.0..top)?;
            let first = *first;
            chart
                .configure_mesh()
                .x_desc("Date")
                .y_desc("Hours a year")
                .x_labels(6)
                .x_label_formatter(&|v| {
                    (first + chrono::Duration::days(*v as i64))
                        .format("%b %Y")
                        .to_string()
                })
                .label_style(("sans-serif", 13).into_font().color(&DARK))
                .axis_desc_style(("sans-serif", 14).into_font().color(&DARK))
                .draw()?;
            // Without a target there is no line, and the legend does not claim one.
            if line.len() > 1 {
                chart
                    .draw_series(LineSeries::new(
                        line.iter().map(|(d, h)| (x(*d), *h)),
                        NHS_BLUE.stroke_width(3),
                    ))?
                    .label("Trajectory to the target")
                    .legend(|(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], NHS_BLUE.stroke_width(3))
                    });
            }
            if let Some(cap) = cap {
                chart
                    .draw_series(DashedLineSeries::new(
                        [(0.0, cap), (span, cap)],
                        10,
                        6,
                        NHS_RED.stroke_width(2),
                    ))?
                    .label("DAP's cap")
                    .legend(|(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], NHS_RED.stroke_width(2))
                    });
            }
            // A step: the estimate holds until the next decision moves it.
            let mut steps = Vec::new();
            for (i, (d, h)) in history.iter().enumerate() {
                if i > 0 {
                    steps.push((x(*d), history[i - 1].1));
                }
                steps.push((x(*d), *h));
            }
            if steps.len() > 1 {
                chart
                    .draw_series(LineSeries::new(steps, GREEN.stroke_width(3)))?
                    .label("Estimated burden after each decision")
                    .legend(|(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], GREEN.stroke_width(3))
                    });
            }
            if let Some((d, h)) = today {
                chart
                    .draw_series(std::iter::once(Circle::new((x(d), h), 7, GREEN.filled())))?
                    .label("Estimated burden today")
                    .legend(|(x, y)| Circle::new((x + 8, y), 5, GREEN.filled()));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.9))
                .border_style(DARK)
                .label_font(("sans-serif", 13).into_font().color(&DARK))
                .position(SeriesLabelPosition::UpperRight)
                .draw()?;
            root.present()?;
            Ok(())
        })();
        if let Err(e) = drawn {
            tracing::warn!(error = %e, "Could not draw a chart.");
        }
    }
    labelled(svg, title)
}

/// A waterfall: the `start` total as a bar, each of `steps` as a bar floating from the
/// running total (red where it adds hours, green where it takes them away), and the `end`
/// total as a bar. Labels name the bars, in order.
pub fn waterfall(
    title: &str,
    start: (&str, f64),
    steps: &[(&str, f64)],
    end: (&str, f64),
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        // (label, from, to, colour) for each bar.
        let mut bars = vec![(start.0, 0.0, start.1, NHS_BLUE)];
        let mut running = start.1;
        for (label, delta) in steps {
            let colour = if *delta > 0.0 { NHS_RED } else { GREEN };
            bars.push((label, running, running + delta, colour));
            running += delta;
        }
        bars.push((end.0, 0.0, end.1, NHS_BLUE));
        let top = bars
            .iter()
            .map(|b| b.1.max(b.2))
            .fold(0.0f64, f64::max)
            .max(1.0)
            * 1.15;
        let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(70)
                // A range of n segments is n + 1 slots: one slot a bar, none spare.
                .build_cartesian_2d((0..bars.len() - 1).into_segmented(), 0.0..top)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .y_desc("Hours a year")
                .x_label_formatter(&|x| match x {
                    SegmentValue::CenterOf(i) => {
                        bars.get(*i).map(|b| b.0.to_owned()).unwrap_or_default()
                    }
                    _ => String::new(),
                })
                .label_style(("sans-serif", 13).into_font().color(&DARK))
                .axis_desc_style(("sans-serif", 14).into_font().color(&DARK))
                .draw()?;
            chart.draw_series(bars.iter().enumerate().map(|(i, (_, from, to, colour))| {
                // A change too small to see still shows as a line.
                let (low, high) = (
                    from.min(*to),
                    from.max(*to).max(from.min(*to) + top / 400.0),
                );
                Rectangle::new(
                    [
                        (SegmentValue::Exact(i), low),
                        (SegmentValue::Exact(i + 1), high),
                    ],
                    colour.filled(),
                )
            }))?;
            root.present()?;
            Ok(())
        })();
        if let Err(e) = drawn {
            tracing::warn!(error = %e, "Could not draw a chart.");
        }
    }
    labelled(svg, title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_a_name_and_axis_labels() {
        let svg = stacked_hours(
            "Hours by month",
            &["2026-10".into(), "2026-11".into()],
            &[10.0, 2.0],
            &[1.0, 3.0],
        );
        assert!(
            svg.starts_with("<svg role=\"img\" aria-label=\"Hours by month\""),
            "{svg:.200}"
        );
        assert!(svg.contains("Staff hours") && svg.contains("2026-11"));
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let svg = trajectory(
            "Trajectory <&>",
            &[(d("2026-04-01"), 30_000.0), (d("2028-04-01"), 15_000.0)],
            &[(d("2026-04-01"), 30_000.0), (d("2026-11-30"), 28_000.0)],
            Some(32_000.0),
        );
        assert!(
            svg.contains("aria-label=\"Trajectory &lt;&amp;>\""),
            "{svg:.200}"
        );
        assert!(svg.contains("Hours a year"));
        assert!(
            svg.contains("DAP&apos;s cap") || svg.contains("DAP's cap"),
            "{svg}"
        );
        let svg = waterfall(
            "Changes by cause",
            ("Baseline", 100.0),
            &[("Programme change", -30.0), ("Adjustment", 5.0)],
            ("Today", 75.0),
        );
        assert!(svg.contains("Programme change") && svg.contains("Today"));
    }
}
