//! The burden report written as a file: JSON (the form it is filed in), CSV (one long
//! table) or XLSX (a sheet a part). Each is made from the report alone, with nothing of the
//! moment it was written in it, so the same report gives the same bytes.

use super::report::ProgressReport;

/// The formats a report is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Xlsx,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, String> {
        match s {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "xlsx" => Ok(Format::Xlsx),
            other => Err(format!(
                "there is no report format {other:?}: use json, csv or xlsx"
            )),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

/// The report in `format`.
pub fn write(report: &ProgressReport, format: Format) -> anyhow::Result<Vec<u8>> {
    match format {
        Format::Json => json(report),
        Format::Csv => csv(report),
        Format::Xlsx => xlsx(report),
    }
}

/// The report as filed.
pub fn json(report: &ProgressReport) -> anyhow::Result<Vec<u8>> {
    Ok(report.to_json()?.into_bytes())
}

/// One row of the long table: what part of the report it is from, and its figure.
struct Line<'a> {
    section: &'a str,
    on: Option<chrono::NaiveDate>,
    collection: &'a str,
    measure: &'a str,
    value: Option<f64>,
    text: String,
}

fn lines(r: &ProgressReport) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut figure = |section, on, collection, measure, value: Option<f64>, text: String| {
        out.push(Line {
            section,
            on,
            collection,
            measure,
            value,
            text,
        })
    };
    let on = Some(r.as_of);
    let b = r.budget.as_ref();
    for (measure, value) in [
        ("estimated_hours", Some(r.estimated_hours)),
        ("estimated_pounds", r.estimated_pounds),
        ("cap_hours", b.and_then(|b| b.cap_hours)),
        ("baseline_hours", b.and_then(|b| b.baseline_hours)),
        ("goal_hours", b.and_then(|b| b.goal_hours)),
        ("trajectory_hours", r.trajectory_hours),
        ("on_track", r.on_track.map(|t| f64::from(u8::from(t)))),
    ] {
        figure("headline", on, "", measure, value, String::new());
    }
    if let Some(source) = &r.rates_source {
        figure("headline", on, "", "rates_source", None, source.clone());
    }
    for p in &r.trajectory {
        figure(
            "trajectory",
            Some(p.on),
            "",
            "allowed_hours",
            Some(p.hours),
            String::new(),
        );
    }
    for p in &r.history {
        figure(
            "history",
            Some(p.on),
            "",
            "estimated_hours",
            Some(p.hours),
            String::new(),
        );
    }
    let c = &r.causes;
    figure(
        "causes",
        Some(c.from),
        "",
        "start_hours",
        Some(c.start_hours),
        String::new(),
    );
    for (measure, value) in [
        ("programme_change_hours", c.programme_change_hours),
        ("adjustment_hours", c.adjustment_hours),
        ("automation_hours", c.automation_hours),
    ] {
        figure(
            "causes",
            Some(c.to),
            "",
            measure,
            Some(value),
            String::new(),
        );
    }
    figure(
        "causes",
        Some(c.to),
        "",
        "end_hours",
        Some(c.end_hours),
        String::new(),
    );
    for ch in &c.changes {
        let measure = match ch.cause {
            super::causes::Cause::ProgrammeChange => "programme_change_hours",
            super::causes::Cause::Adjustment => "adjustment_hours",
            super::causes::Cause::Automation => "automation_hours",
        };
        figure(
            "change",
            Some(ch.on),
            &ch.collection,
            measure,
            Some(ch.hours),
            ch.what.clone(),
        );
    }
    for (e, pounds) in r.collections.iter().zip(&r.collection_pounds) {
        for (measure, value) in [
            ("respondents", Some(f64::from(e.respondents))),
            ("by_hand", Some(f64::from(e.by_hand))),
            ("annual_hours", Some(e.annual_hours)),
            ("annual_pounds", *pounds),
        ] {
            figure("estimate", on, &e.slug, measure, value, String::new());
        }
    }
    let a = &r.achieved;
    for c in &a.collections {
        for (measure, value) in [
            ("owed", Some(f64::from(c.owed))),
            ("pulled", Some(f64::from(c.pulled))),
            ("uploaded", Some(f64::from(c.uploaded))),
            ("forms", Some(f64::from(c.forms))),
            ("nil_returns", Some(f64::from(c.nil_returns))),
            ("never_sent", Some(f64::from(c.never_sent))),
            ("fixes", Some(f64::from(c.fixes))),
            ("corrections", Some(f64::from(c.corrections))),
            ("estimated_hours", Some(c.estimated_hours)),
            ("achieved_hours", Some(c.achieved_hours)),
            ("estimated_pounds", c.estimated_pounds),
            ("achieved_pounds", c.achieved_pounds),
        ] {
            figure("achieved", on, &c.collection, measure, value, String::new());
        }
    }
    for d in &r.decisions {
        figure(
            "decision",
            Some(d.on),
            &d.collection,
            &d.action,
            None,
            format!("{} ({})", d.reason, d.by),
        );
    }
    out
}

/// The report as one long table: `section,on,collection,measure,value,text`.
pub fn csv(report: &ProgressReport) -> anyhow::Result<Vec<u8>> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record(["section", "on", "collection", "measure", "value", "text"])?;
    for l in lines(report) {
        w.write_record([
            l.section.to_owned(),
            l.on.map(|d| d.to_string()).unwrap_or_default(),
            l.collection.to_owned(),
            l.measure.to_owned(),
            l.value.map(|v| v.to_string()).unwrap_or_default(),
            l.text,
        ])?;
    }
    Ok(w.into_inner()?)
}

/// The report as a workbook: the headline, the changes by cause, each collection, the
/// trajectory and the decisions, a sheet each. Its document dates are the as-of day.
pub fn xlsx(r: &ProgressReport) -> anyhow::Result<Vec<u8>> {
    use chrono::Datelike;
    use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet};
    let mut book = Workbook::new();
    let day = ExcelDateTime::from_ymd(
        u16::try_from(r.as_of.year())?,
        u8::try_from(r.as_of.month())?,
        u8::try_from(r.as_of.day())?,
    )?;
    book.set_properties(
        &DocProperties::new()
            .set_title(format!(
                "Burden of central data collections, as of {}",
                r.as_of
            ))
            .set_author("Tally")
            .set_creation_datetime(&day),
    );
    let bold = Format::new().set_bold().set_background_color("#DDE7F0");
    let header = |sheet: &mut Worksheet, names: &[&str]| -> anyhow::Result<()> {
        for (i, n) in names.iter().enumerate() {
            sheet.write_string_with_format(0, u16::try_from(i)?, *n, &bold)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        Ok(())
    };
    let put = |sheet: &mut Worksheet, row: u32, col: u16, v: Option<f64>| -> anyhow::Result<()> {
        if let Some(v) = v {
            sheet.write_number(row, col, v)?;
        }
        Ok(())
    };

    let sheet = book.add_worksheet().set_name("Headline")?;
    header(sheet, &["Figure", "Value"])?;
    let b = r.budget.as_ref();
    let rows: [(&str, Option<f64>); 7] = [
        ("Estimated hours a year", Some(r.estimated_hours)),
        ("Estimated cost a year (£)", r.estimated_pounds),
        ("Cap (hours a year)", b.and_then(|b| b.cap_hours)),
        ("Baseline (hours a year)", b.and_then(|b| b.baseline_hours)),
        ("Target (hours a year)", b.and_then(|b| b.goal_hours)),
        (
            "Allowed by the trajectory (hours a year)",
            r.trajectory_hours,
        ),
        (
            "Achieved hours since the year began",
            Some(r.achieved.achieved_hours),
        ),
    ];
    sheet.write_string(1, 0, "As of")?;
    sheet.write_string(1, 1, r.as_of.to_string())?;
    for (i, (name, v)) in rows.iter().enumerate() {
        let row = u32::try_from(i)? + 2;
        sheet.write_string(row, 0, *name)?;
        put(sheet, row, 1, *v)?;
    }
    let next = u32::try_from(rows.len())? + 2;
    sheet.write_string(next, 0, "On track")?;
    sheet.write_string(
        next,
        1,
        match r.on_track {
            Some(true) => "yes",
            Some(false) => "no",
            None => "no target set",
        },
    )?;
    sheet.write_string(next + 1, 0, "Staff rates")?;
    sheet.write_string(next + 1, 1, r.rates_source.as_deref().unwrap_or("not set"))?;
    sheet.set_column_width(0, 44)?;
    sheet.set_column_width(1, 24)?;

    let sheet = book.add_worksheet().set_name("Causes")?;
    header(
        sheet,
        &[
            "Date",
            "Collection",
            "Cause",
            "What happened",
            "Hours a year",
        ],
    )?;
    let c = &r.causes;
    sheet.write_string(1, 0, c.from.to_string())?;
    sheet.write_string(1, 3, "Estimate at the start")?;
    sheet.write_number(1, 4, c.start_hours)?;
    let mut row = 2;
    for ch in &c.changes {
        sheet.write_string(row, 0, ch.on.to_string())?;
        sheet.write_string(row, 1, &ch.title)?;
        sheet.write_string(row, 2, ch.cause.label())?;
        sheet.write_string(row, 3, &ch.what)?;
        sheet.write_number(row, 4, ch.hours)?;
        row += 1;
    }
    for cause in super::causes::Cause::ALL {
        sheet.write_string(row, 2, cause.label())?;
        sheet.write_string(row, 3, "All changes of this cause")?;
        sheet.write_number(row, 4, c.hours(cause))?;
        row += 1;
    }
    sheet.write_string(row, 0, c.to.to_string())?;
    sheet.write_string(row, 3, "Estimate at the end")?;
    sheet.write_number(row, 4, c.end_hours)?;
    sheet.set_column_width(1, 36)?;
    sheet.set_column_width(3, 48)?;

    let sheet = book.add_worksheet().set_name("Collections")?;
    header(
        sheet,
        &[
            "Collection",
            "Captured",
            "Respondents",
            "Sending by hand",
            "Estimated hours a year",
            "Estimated cost a year (£)",
            "Periods owed this year",
            "Pulled",
            "Uploaded",
            "Forms",
            "Nil returns",
            "Never sent",
            "Fixes",
            "Corrections",
            "Hours estimated this year",
            "Hours achieved this year",
            "Cost estimated this year (£)",
            "Cost achieved this year (£)",
        ],
    )?;
    let mut slugs: Vec<&str> = r.collections.iter().map(|c| c.slug.as_str()).collect();
    for a in &r.achieved.collections {
        if !slugs.contains(&a.collection.as_str()) {
            slugs.push(&a.collection);
        }
    }
    for (i, slug) in slugs.iter().enumerate() {
        let row = u32::try_from(i)? + 1;
        let e = r.collections.iter().position(|c| c.slug == *slug);
        let a = r
            .achieved
            .collections
            .iter()
            .find(|a| a.collection == *slug);
        let title = e
            .map(|i| r.collections[i].title.as_str())
            .or(a.map(|a| a.title.as_str()))
            .unwrap_or(slug);
        sheet.write_string(row, 0, title)?;
        if let Some(i) = e {
            let c = &r.collections[i];
            sheet.write_string(row, 1, c.capture.as_str())?;
            sheet.write_number(row, 2, c.respondents)?;
            sheet.write_number(row, 3, c.by_hand)?;
            sheet.write_number(row, 4, c.annual_hours)?;
            put(sheet, row, 5, r.collection_pounds.get(i).copied().flatten())?;
        }
        if let Some(a) = a {
            for (col, n) in [
                a.owed,
                a.pulled,
                a.uploaded,
                a.forms,
                a.nil_returns,
                a.never_sent,
                a.fixes,
                a.corrections,
            ]
            .into_iter()
            .enumerate()
            {
                sheet.write_number(row, u16::try_from(col)? + 6, n)?;
            }
            sheet.write_number(row, 14, a.estimated_hours)?;
            sheet.write_number(row, 15, a.achieved_hours)?;
            put(sheet, row, 16, a.estimated_pounds)?;
            put(sheet, row, 17, a.achieved_pounds)?;
        }
    }
    sheet.set_column_width(0, 40)?;

    let sheet = book.add_worksheet().set_name("Trajectory")?;
    header(
        sheet,
        &["Date", "Allowed hours a year", "Estimated hours a year"],
    )?;
    let mut days: Vec<chrono::NaiveDate> = r
        .trajectory
        .iter()
        .chain(&r.history)
        .map(|p| p.on)
        .collect();
    days.sort_unstable();
    days.dedup();
    for (i, d) in days.iter().enumerate() {
        let row = u32::try_from(i)? + 1;
        sheet.write_string(row, 0, d.to_string())?;
        put(
            sheet,
            row,
            1,
            r.trajectory.iter().find(|p| p.on == *d).map(|p| p.hours),
        )?;
        put(
            sheet,
            row,
            2,
            r.history.iter().find(|p| p.on == *d).map(|p| p.hours),
        )?;
    }

    let sheet = book.add_worksheet().set_name("Decisions")?;
    header(sheet, &["Date", "Collection", "Decision", "By", "Reason"])?;
    for (i, d) in r.decisions.iter().enumerate() {
        let row = u32::try_from(i)? + 1;
        sheet.write_string(row, 0, d.on.to_string())?;
        sheet.write_string(row, 1, &d.collection)?;
        sheet.write_string(row, 2, &d.action)?;
        sheet.write_string(row, 3, &d.by)?;
        sheet.write_string(row, 4, &d.reason)?;
    }
    sheet.set_column_width(1, 36)?;
    sheet.set_column_width(4, 60)?;
    Ok(book.save_to_buffer()?)
}
