//! Each column of a return's artifact described from its sidecar: title, datatype, unit
//! and the part it plays in a row (dimension, attribute, figure or status).

use datafusion::arrow::datatypes::{DataType, Schema};
use serde::Serialize;

use super::catalogue::ReturnDef;
use super::disclosure::SUPPRESSED;

/// What part a column plays in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Identifies the row (level, region, code): an SDMX dimension.
    Dimension,
    /// Describes the row without identifying it (a name): an SDMX attribute.
    Attribute,
    /// A figure: a count, or one derived from counts.
    Figure,
    /// Says whether the figure it follows is suppressed.
    Status,
}

/// One column of an export, described.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Described {
    pub name: String,
    pub title: String,
    /// Its CSVW (XML Schema) datatype: `integer`, `double`, `decimal`, `string`, `date`,
    /// `datetime` or `boolean`.
    pub datatype: &'static str,
    pub role: Role,
    pub unit: Option<String>,
    pub description: Option<String>,
}

/// Every column of an artifact with schema `schema`, in order, described from the
/// return's sidecar.
pub fn describe(def: &ReturnDef, schema: &Schema) -> Vec<Described> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let name = f.name().clone();
            let datatype = datatype(f.data_type());
            if let Some(of) = name.strip_suffix("_status").filter(|of| def.column(of).is_some()) {
                return Described {
                    title: format!("{of} status"),
                    datatype,
                    role: Role::Status,
                    unit: None,
                    description: Some(format!(
                        "\"{SUPPRESSED}\" where {of} is withheld to protect confidentiality; empty otherwise"
                    )),
                    name,
                };
            }
            let column = def.column(&name);
            if name == super::catalogue::PROVISIONAL_COLUMN && column.is_none() {
                return Described {
                    title: "provisional figures".into(),
                    datatype,
                    role: Role::Status,
                    unit: None,
                    description: Some(
                        "The figures of the row, by column name and space-separated, that rest on a figure awaiting its provider's confirmation; empty where every figure is final"
                            .into(),
                    ),
                    name,
                };
            }
            let role = match column {
                Some(c) if c.measure.is_some() || !c.derived_from.is_empty() => Role::Figure,
                Some(c) if c.attribute => Role::Attribute,
                _ => Role::Dimension,
            };
            Described {
                title: name.replace('_', " "),
                datatype,
                role,
                unit: column.and_then(|c| c.unit.clone()),
                description: column.and_then(|c| c.description.clone()),
                name,
            }
        })
        .collect()
}

fn datatype(t: &DataType) -> &'static str {
    match t {
        t if t.is_integer() => "integer",
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "double",
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => "decimal",
        DataType::Boolean => "boolean",
        DataType::Date32 | DataType::Date64 => "date",
        DataType::Timestamp(..) => "datetime",
        _ => "string",
    }
}
