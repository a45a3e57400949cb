//! SDMX for a return: the SDMX-ML 2.1 structure message (codelists, concept scheme, data
//! structure definition and dataflow) generated from the sidecar, and the SDMX-CSV 2.0 data
//! that refers to it, so that SDMX tools (sdmx1, .Stat) read the two together.
//!
//! The columns that identify a row are dimensions, with `MEASURE` naming the figure and
//! `TIME_PERIOD` the period as SDMX writes it: NHS financial quarters and years are SDMX
//! reporting periods (`2026-Q2`, `2026-A1`) with `REPORTING_YEAR_START_DAY` `--04-01`.
//! The columns that describe a row (a name) are attributes, with `OBS_STATUS` (`A` normal,
//! `O` missing), `CONF_STATUS` (`F` free, `C` confidential) and `COMPLETENESS`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use datafusion::arrow::array::RecordBatch;

use super::artifact::Artifact;
use super::catalogue::ReturnDef;
use super::cells::{cell, csv_cell, suppressed};
use crate::domain::{Period, PeriodKind};

const AGENCY: &str = "TALLY";
/// Written where a dimension has no value in a row (the region of England's row): SDMX's
/// "not applicable".
pub const NOT_APPLICABLE: &str = "_Z";
/// The start of the NHS financial year, for reporting periods.
const YEAR_START: &str = "--04-01";

/// A period as an SDMX time period, and the reporting year start day it needs, if any.
pub fn time_period(period: &Period) -> (String, Option<&'static str>) {
    match period {
        Period::Quarter { year, quarter } => (format!("{year}-Q{quarter}"), Some(YEAR_START)),
        Period::Year { year } => (format!("{year}-A1"), Some(YEAR_START)),
        other => (other.to_string(), None),
    }
}

/// The SDMX identifier of a return: `kh03-quarterly` is `KH03_QUARTERLY`.
pub fn id(def: &ReturnDef) -> String {
    def.name.replace('-', "_").to_ascii_uppercase()
}

/// The version of the structure: the licence version of the text it is generated from.
fn version(licence: Option<&super::catalogue::QueryLicence>) -> String {
    format!("{}.0", licence.map_or(1, |l| l.version))
}

struct Parts<'a> {
    dimensions: Vec<&'a str>,
    attributes: Vec<&'a str>,
    measures: Vec<&'a super::catalogue::Column>,
}

fn parts(def: &ReturnDef) -> Parts<'_> {
    let is_figure =
        |c: &super::catalogue::Column| c.measure.is_some() || !c.derived_from.is_empty();
    Parts {
        dimensions: def
            .columns
            .iter()
            .filter(|c| !is_figure(c) && !c.attribute)
            .map(|c| c.name.as_str())
            .collect(),
        attributes: def
            .columns
            .iter()
            .filter(|c| c.attribute)
            .map(|c| c.name.as_str())
            .collect(),
        measures: def.columns.iter().filter(|c| is_figure(c)).collect(),
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && !matches!(c, '\n' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

fn name(text: &str) -> String {
    format!("<com:Name xml:lang=\"en\">{}</com:Name>", escape(text))
}

fn code(id: &str, label: &str) -> String {
    format!("<str:Code id=\"{id}\">{}</str:Code>", name(label))
}

fn upper(column: &str) -> String {
    column.to_ascii_uppercase()
}

/// The SDMX-ML 2.1 structure message for `def`.
pub fn structure(def: &ReturnDef, prepared: DateTime<Utc>) -> String {
    let id = id(def);
    let v = version(def.licence.as_ref());
    let p = parts(def);
    let year_start = matches!(def.period, PeriodKind::Quarter | PeriodKind::Year);
    let concept = |c: &str| {
        format!(
            "<str:ConceptIdentity><Ref id=\"{c}\" maintainableParentID=\"CS_{id}\" maintainableParentVersion=\"{v}\" agencyID=\"{AGENCY}\" package=\"conceptscheme\" class=\"Concept\"/></str:ConceptIdentity>"
        )
    };
    let enumeration = |list: &str, version: &str| {
        format!(
            "<str:LocalRepresentation><str:Enumeration><Ref id=\"{list}\" version=\"{version}\" agencyID=\"{AGENCY}\" package=\"codelist\" class=\"Codelist\"/></str:Enumeration></str:LocalRepresentation>"
        )
    };
    let text = |kind: &str| {
        format!(
            "<str:LocalRepresentation><str:TextFormat textType=\"{kind}\"/></str:LocalRepresentation>"
        )
    };
    let on_observation = "<str:AttributeRelationship><str:PrimaryMeasure><Ref id=\"OBS_VALUE\"/></str:PrimaryMeasure></str:AttributeRelationship>";
    let on_dataset = "<str:AttributeRelationship><str:None/></str:AttributeRelationship>";
    let on_row: String = {
        let mut s = String::from("<str:AttributeRelationship>");
        for d in &p.dimensions {
            let _ = write!(
                s,
                "<str:Dimension><Ref id=\"{}\"/></str:Dimension>",
                upper(d)
            );
        }
        s.push_str("</str:AttributeRelationship>");
        s
    };

    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str("<mes:Structure xmlns:mes=\"http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message\" xmlns:str=\"http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure\" xmlns:com=\"http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common\" xmlns:xml=\"http://www.w3.org/XML/1998/namespace\">\n");
    let _ = writeln!(
        x,
        "<mes:Header><mes:ID>{id}</mes:ID><mes:Test>false</mes:Test><mes:Prepared>{}</mes:Prepared><mes:Sender id=\"{AGENCY}\">{}</mes:Sender></mes:Header>",
        prepared.format("%Y-%m-%dT%H:%M:%SZ"),
        name("Tally")
    );
    x.push_str("<mes:Structures>\n");

    // The dataflow DHSC downloads, pointing at its structure.
    let _ = writeln!(
        x,
        "<str:Dataflows><str:Dataflow id=\"{id}\" agencyID=\"{AGENCY}\" version=\"{v}\">{}<str:Structure><Ref id=\"{id}\" agencyID=\"{AGENCY}\" version=\"{v}\" package=\"datastructure\" class=\"DataStructure\"/></str:Structure></str:Dataflow></str:Dataflows>",
        name(&def.title)
    );

    // Codelists: the figures, and SDMX's observation and confidentiality statuses.
    x.push_str("<str:Codelists>\n");
    let _ = write!(
        x,
        "<str:Codelist id=\"CL_MEASURE_{id}\" agencyID=\"{AGENCY}\" version=\"{v}\">{}",
        name(&format!("Figures of {}", def.title))
    );
    for m in &p.measures {
        let label = match (&m.description, &m.unit) {
            (Some(d), Some(u)) => format!("{d} ({u})"),
            (Some(d), None) => d.clone(),
            (None, Some(u)) => format!("{} ({u})", m.name.replace('_', " ")),
            (None, None) => m.name.replace('_', " "),
        };
        x.push_str(&code(&upper(&m.name), &label));
    }
    x.push_str("</str:Codelist>\n");
    let _ = writeln!(
        x,
        "<str:Codelist id=\"CL_OBS_STATUS\" agencyID=\"{AGENCY}\" version=\"1.0\">{}{}{}{}</str:Codelist>",
        name("Observation status"),
        code("A", "Normal value"),
        code("O", "Missing value"),
        code("P", "Provisional value"),
    );
    let _ = writeln!(
        x,
        "<str:Codelist id=\"CL_CONF_STATUS\" agencyID=\"{AGENCY}\" version=\"1.0\">{}{}{}</str:Codelist>",
        name("Confidentiality status"),
        code("F", "Free"),
        code("C", "Confidential: suppressed to protect confidentiality"),
    );
    x.push_str("</str:Codelists>\n");

    // Concepts: one for every component.
    let _ = write!(
        x,
        "<str:Concepts><str:ConceptScheme id=\"CS_{id}\" agencyID=\"{AGENCY}\" version=\"{v}\">{}",
        name(&format!("Concepts of {}", def.title))
    );
    let mut concepts: Vec<(String, String)> = Vec::new();
    for c in p.dimensions.iter().chain(&p.attributes) {
        let label = def
            .column(c)
            .and_then(|c| c.description.clone())
            .unwrap_or_else(|| c.replace('_', " "));
        concepts.push((upper(c), label));
    }
    for (c, label) in [
        ("MEASURE", "The figure"),
        ("TIME_PERIOD", "The period"),
        ("OBS_VALUE", "The value of the figure"),
        ("OBS_STATUS", "Observation status"),
        ("CONF_STATUS", "Confidentiality status"),
        (
            "COMPLETENESS",
            "Whether every expected provider sent its data for the period",
        ),
        (
            "REPORTING_YEAR_START_DAY",
            "The first day of the reporting year",
        ),
    ] {
        concepts.push((c.into(), label.into()));
    }
    for (c, label) in &concepts {
        let _ = write!(x, "<str:Concept id=\"{c}\">{}</str:Concept>", name(label));
    }
    x.push_str("</str:ConceptScheme></str:Concepts>\n");

    // The data structure definition.
    let _ = write!(
        x,
        "<str:DataStructures><str:DataStructure id=\"{id}\" agencyID=\"{AGENCY}\" version=\"{v}\">{}<str:DataStructureComponents>",
        name(&def.title)
    );
    x.push_str("<str:DimensionList id=\"DimensionDescriptor\">");
    let mut position = 1;
    for d in &p.dimensions {
        let d = upper(d);
        let _ = write!(
            x,
            "<str:Dimension id=\"{d}\" position=\"{position}\">{}{}</str:Dimension>",
            concept(&d),
            text("String")
        );
        position += 1;
    }
    let _ = write!(
        x,
        "<str:Dimension id=\"MEASURE\" position=\"{position}\">{}{}</str:Dimension>",
        concept("MEASURE"),
        enumeration(&format!("CL_MEASURE_{id}"), &v)
    );
    position += 1;
    let _ = write!(
        x,
        "<str:TimeDimension id=\"TIME_PERIOD\" position=\"{position}\">{}{}</str:TimeDimension>",
        concept("TIME_PERIOD"),
        text("ObservationalTimePeriod")
    );
    x.push_str("</str:DimensionList>");
    x.push_str("<str:AttributeList id=\"AttributeDescriptor\">");
    for a in &p.attributes {
        let a = upper(a);
        let _ = write!(
            x,
            "<str:Attribute id=\"{a}\" assignmentStatus=\"Conditional\">{}{}{on_row}</str:Attribute>",
            concept(&a),
            text("String")
        );
    }
    let _ = write!(
        x,
        "<str:Attribute id=\"OBS_STATUS\" assignmentStatus=\"Mandatory\">{}{}{on_observation}</str:Attribute>",
        concept("OBS_STATUS"),
        enumeration("CL_OBS_STATUS", "1.0")
    );
    let _ = write!(
        x,
        "<str:Attribute id=\"CONF_STATUS\" assignmentStatus=\"Mandatory\">{}{}{on_observation}</str:Attribute>",
        concept("CONF_STATUS"),
        enumeration("CL_CONF_STATUS", "1.0")
    );
    let _ = write!(
        x,
        "<str:Attribute id=\"COMPLETENESS\" assignmentStatus=\"Mandatory\">{}{}{on_dataset}</str:Attribute>",
        concept("COMPLETENESS"),
        text("String")
    );
    if year_start {
        let _ = write!(
            x,
            "<str:Attribute id=\"REPORTING_YEAR_START_DAY\" assignmentStatus=\"Mandatory\">{}<str:LocalRepresentation><str:TextFormat textType=\"MonthDay\"/></str:LocalRepresentation>{on_dataset}</str:Attribute>",
            concept("REPORTING_YEAR_START_DAY"),
        );
    }
    x.push_str("</str:AttributeList>");
    let _ = write!(
        x,
        "<str:MeasureList id=\"MeasureDescriptor\"><str:PrimaryMeasure id=\"OBS_VALUE\">{}{}</str:PrimaryMeasure></str:MeasureList>",
        concept("OBS_VALUE"),
        text("Double")
    );
    x.push_str("</str:DataStructureComponents></str:DataStructure></str:DataStructures>\n");
    x.push_str("</mes:Structures>\n</mes:Structure>\n");
    x
}

/// SDMX-CSV 2.0: one observation per row and figure, referring to the dataflow that
/// [`structure`] describes. A figure with no value is `NaN`, `O` when nothing was sent and
/// `C` when it is suppressed.
pub fn data(
    def: &ReturnDef,
    artifact: &Artifact,
    batches: &[RecordBatch],
    path: &Path,
) -> anyhow::Result<()> {
    let p = parts(def);
    let m = &artifact.manifest;
    let period = Period::parse(&m.period).map_err(anyhow::Error::msg)?;
    let (time, year_start) = time_period(&period);
    let mut out = ::csv::Writer::from_path(path)?;
    let mut header: Vec<String> = vec!["STRUCTURE".into(), "STRUCTURE_ID".into(), "ACTION".into()];
    header.extend(p.dimensions.iter().map(|d| upper(d)));
    header.extend(["MEASURE", "TIME_PERIOD", "OBS_VALUE"].map(String::from));
    header.extend(p.attributes.iter().map(|a| upper(a)));
    header.extend(["OBS_STATUS", "CONF_STATUS", "COMPLETENESS"].map(String::from));
    if year_start.is_some() {
        header.push("REPORTING_YEAR_START_DAY".into());
    }
    out.write_record(&header)?;
    let structure_id = format!("{AGENCY}:{}({})", id(def), version(m.licence.as_ref()));
    let complete = if m.completeness.complete {
        "complete"
    } else {
        "incomplete"
    };
    let column = |b: &RecordBatch, name: &str| {
        b.column_by_name(name)
            .cloned()
            .with_context(|| format!("the artifact has no column {name}; build it again"))
    };
    for b in batches {
        for row in 0..b.num_rows() {
            // A version built before a dimension or attribute was added has no column for
            // it: the dimension is not applicable there, the attribute absent.
            let mut dims = Vec::with_capacity(p.dimensions.len());
            for d in &p.dimensions {
                let v = match b.column_by_name(d) {
                    Some(c) => csv_cell(c.as_ref(), row)?,
                    None => String::new(),
                };
                dims.push(if v.is_empty() {
                    NOT_APPLICABLE.into()
                } else {
                    v
                });
            }
            let mut attributes = Vec::with_capacity(p.attributes.len());
            for a in &p.attributes {
                attributes.push(match b.column_by_name(a) {
                    Some(c) => csv_cell(c.as_ref(), row)?,
                    None => String::new(),
                });
            }
            let provisional = super::provisional::of_row(b, row);
            for measure in &p.measures {
                let hidden = suppressed(b, &measure.name, row);
                let value = cell(column(b, &measure.name)?.as_ref(), row)?;
                let missing = value.is_empty();
                let mut record = vec!["dataflow".to_string(), structure_id.clone(), "I".into()];
                record.extend(dims.iter().cloned());
                record.push(upper(&measure.name));
                record.push(time.clone());
                record.push(if missing { "NaN".into() } else { value });
                record.extend(attributes.iter().cloned());
                record.push(
                    if missing && !hidden {
                        "O"
                    } else if provisional.contains(&measure.name) {
                        "P"
                    } else {
                        "A"
                    }
                    .into(),
                );
                record.push(if hidden { "C" } else { "F" }.into());
                record.push(complete.into());
                if let Some(start) = year_start {
                    record.push(start.into());
                }
                out.write_record(&record)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
