//! What goes with every download to say what it is: each column described (title, type,
//! unit, role), and for a CSV the W3C CSV on the Web (CSVW) metadata document, with the
//! completeness statement and the provenance (the query's licence and hash, every input
//! extract's version and sha256) an analyst needs to trust the figures.

use datafusion::arrow::datatypes::{DataType, Schema};
use serde::Serialize;
use serde_json::{Value, json};

use super::build::Manifest;
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

/// The manifest's provenance as PROV-O: the build that made the artifact and every extract
/// version it read, each with the sha256 of the file the provider sent.
fn provenance(m: &Manifest) -> (Value, Value) {
    let licence = match &m.licence {
        Some(l) => format!("licensed query {} version {}", l.number, l.version),
        None => "a query read from the queries folder, not from the register".into(),
    };
    let activity = json!({
        "@type": "prov:Activity",
        "rdfs:label": format!("built by {}", m.engine),
        "prov:endedAtTime": {"@value": m.built_at.to_rfc3339(), "@type": "xsd:dateTime"},
        "rdfs:comment": [
            format!("from {licence}"),
            format!("query sha256 {}", m.sql_sha256),
            format!("register and definitions sha256 {}", m.context_sha256),
            format!("disclosure control: {}", m.disclosure_rule),
        ],
    });
    let used: Vec<Value> = m
        .inputs
        .iter()
        .map(|i| {
            json!({
                "rdfs:label": format!(
                    "{} from {} for {}, version {}",
                    i.collection, i.provider, i.period, i.version
                ),
                "schema:sha256": i.sha256,
            })
        })
        .collect();
    (activity, Value::Array(used))
}

/// The CSVW metadata document for the CSV export of an artifact whose columns are
/// `columns`; `url` is where the CSV is, relative to the document.
pub fn csvw(m: &Manifest, columns: &[Described], scope: Option<&str>, url: &str) -> Value {
    let described: Vec<Value> = columns
        .iter()
        .map(|c| {
            let mut col = json!({
                "name": c.name,
                "titles": c.title,
                "datatype": c.datatype,
                "null": "",
                "required": false,
            });
            if let Some(d) = &c.description {
                col["dc:description"] = json!(d);
            }
            if let Some(u) = &c.unit {
                col["schema:unitText"] = json!(u);
            }
            col["rdfs:comment"] = json!(match c.role {
                Role::Dimension => "dimension: identifies the row",
                Role::Attribute => "attribute: describes the row",
                Role::Figure => "figure",
                Role::Status => "status of the figure before it",
            });
            col
        })
        .collect();
    let key: Vec<&str> = columns
        .iter()
        .filter(|c| c.role == Role::Dimension)
        .map(|c| c.name.as_str())
        .collect();
    let (activity, used) = provenance(m);
    let mut notes: Vec<String> = m
        .completeness
        .notes()
        .into_iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    if let Some(scope) = scope {
        notes.push(scope.to_owned());
    }
    if let Some(r) = &m.revision {
        notes.push(format!(
            "Revises version {}: {}; {} cells changed (the manifest lists them)",
            r.of,
            r.why.join("; "),
            r.cells_changed
        ));
    }
    notes.push(format!(
        "The artifact's data (Parquet) has sha256 {}",
        m.data_sha256
    ));
    notes.push(format!(
        "An empty figure with its status \"{SUPPRESSED}\" is withheld to protect confidentiality; it is never zero."
    ));
    let mut doc = json!({
        "@context": ["http://www.w3.org/ns/csvw", {"@language": "en"}],
        "url": url,
        "dc:title": format!("{}, {}", m.title, m.period),
        "dc:identifier": format!("{} {} version {}", m.return_name, m.period, m.version),
        "dc:description": m.completeness.statement(),
        "dc:created": {"@value": m.built_at.to_rfc3339(), "@type": "xsd:dateTime"},
        "dc:publisher": "Tally",
        "dc:temporal": m.period,
        "rdfs:comment": notes,
        "prov:wasGeneratedBy": activity,
        "prov:wasDerivedFrom": used,
        "dialect": {"header": true, "doubleQuote": true},
        "tableSchema": {"columns": described},
    });
    if let Some(l) = &m.licence {
        doc["dc:source"] = json!(format!("{} version {}", l.number, l.version));
    }
    if !key.is_empty() {
        doc["tableSchema"]["primaryKey"] = json!(key);
    }
    doc
}
