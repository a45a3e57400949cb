//! A collection's template, for a provider to fill in or a supplier to match: the items as
//! columns, in order, and in a workbook a second sheet that explains each one (type, codes,
//! bounds, pattern, whether it is required, what it means). A file made from it is read by
//! the same landing as any other.

use crate::domain::definition::{CollectionDef, DataItem, ItemType};

/// The forms a template comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateFormat {
    Csv,
    Xlsx,
}

impl TemplateFormat {
    pub fn parse(s: &str) -> Option<TemplateFormat> {
        match s {
            "csv" => Some(TemplateFormat::Csv),
            "xlsx" => Some(TemplateFormat::Xlsx),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            TemplateFormat::Csv => "csv",
            TemplateFormat::Xlsx => "xlsx",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            TemplateFormat::Csv => "text/csv; charset=utf-8",
            TemplateFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        }
    }
}

/// What one item holds, in words, for the explaining sheet.
fn kind(i: &DataItem) -> String {
    match &i.ty {
        ItemType::Code(codes) => format!("one of: {}", codes.join(", ")),
        ItemType::Date => "a date, like 2026-07-01".into(),
        ItemType::Timestamp => "a date and time, like 2026-07-01T09:00:00Z".into(),
        ItemType::Bool => "true or false".into(),
        ItemType::Integer => "a whole number".into(),
        ItemType::Decimal => "a number".into(),
        ItemType::String => "text".into(),
    }
}

fn bounds(i: &DataItem) -> String {
    match (i.min, i.max) {
        (Some(a), Some(b)) => format!("{a} to {b}"),
        (Some(a), None) => format!("at least {a}"),
        (None, Some(b)) => format!("at most {b}"),
        (None, None) => String::new(),
    }
}

/// The template's bytes.
pub fn template(def: &CollectionDef, format: TemplateFormat) -> anyhow::Result<Vec<u8>> {
    match format {
        TemplateFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(def.items.iter().map(|i| i.name.as_str()))?;
            Ok(w.into_inner().map_err(|e| e.into_error())?)
        }
        TemplateFormat::Xlsx => xlsx(def),
    }
}

fn xlsx(def: &CollectionDef) -> anyhow::Result<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let bold = Format::new().set_bold();
    let mut book = Workbook::new();
    let data = book.add_worksheet().set_name("data")?;
    for (c, i) in def.items.iter().enumerate() {
        data.write_string_with_format(0, c as u16, &i.name, &bold)?;
        data.set_column_width(c as u16, (i.name.len() as f64 + 4.0).max(12.0))?;
    }
    let items = book.add_worksheet().set_name("items")?;
    let heads = [
        "item", "holds", "required", "bounds", "pattern", "role", "meaning",
    ];
    for (c, h) in heads.iter().enumerate() {
        items.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (r, i) in def.items.iter().enumerate() {
        let role = if def.key.contains(&i.name) {
            "key: one row for each different value, with the other keys"
        } else if def.dimensions.contains(&i.name) {
            "breaks the figures down"
        } else if i.ty.is_numeric() {
            "a figure"
        } else {
            ""
        };
        let row = (r + 1) as u32;
        for (c, v) in [
            i.name.clone(),
            kind(i),
            if i.required { "yes" } else { "no" }.into(),
            bounds(i),
            i.pattern.clone().unwrap_or_default(),
            role.into(),
            i.description.clone(),
        ]
        .iter()
        .enumerate()
        {
            items.write_string(row, c as u16, v)?;
        }
    }
    items.set_column_width(1, 40)?;
    items.set_column_width(6, 60)?;
    let about = book.add_worksheet().set_name("about")?;
    for (r, (k, v)) in [
        ("collection", def.title.as_str()),
        ("slug", def.slug.as_str()),
        ("purpose", def.purpose.as_str()),
        ("legal basis", def.legal_basis.as_str()),
        (
            "how to send it",
            "Fill in the data sheet, one row for each key, and upload it on your provider page in Tally, or save it as CSV.",
        ),
    ]
    .iter()
    .enumerate()
    {
        about.write_string_with_format(r as u32, 0, *k, &bold)?;
        about.write_string(r as u32, 1, *v)?;
    }
    about.set_column_width(1, 90)?;
    Ok(book.save_to_buffer()?)
}
