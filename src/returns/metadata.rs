//! What goes with every download to say what it is: each column described (title, type,
//! unit, role), and for a CSV the W3C CSV on the Web (CSVW) metadata document, with the
//! completeness statement and the provenance (the query's licence and hash, every input
//! extract's version and sha256) an analyst needs to trust the figures.

use serde_json::{Value, json};

use super::artifact::Manifest;
use super::columns::{Described, Role};
use super::disclosure::SUPPRESSED;

/// The media type of a CSVW metadata document.
pub const CSVW_MEDIA_TYPE: &str = "application/csvm+json";

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
                Role::Status if c.name == super::provisional::COLUMN => {
                    "status: the figures of the row that are provisional"
                }
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
        notes.push(if r.compared {
            format!(
                "Revises version {}: {}; {} cells changed (the manifest lists them)",
                r.of,
                r.why.join("; "),
                r.cells_changed
            )
        } else {
            format!("Revises version {}: {}", r.of, r.why.join("; "))
        });
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
