//! The OpenAPI document: valid against the OpenAPI Initiative's 3.1 schema, and every GET it
//! documents answers, with and without a token, with a documented status and a body that
//! fits the documented schema.

use crate::common;

use axum::http::Method;
use common::web::{TestApp, spawn};

/// The OpenAPI document is a valid 3.1 document, and every GET it documents answers with a
/// documented status and a body that fits the documented schema.
#[tokio::test]
async fn every_documented_endpoint_answers_as_documented() {
    let t: TestApp = spawn(None).await;
    let doc = t
        .api(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .json();
    assert_eq!(doc["openapi"], "3.1.0");
    // The document itself validates against the OpenAPI 3.1 rules we rely on: every $ref
    // resolves, every operation has responses, every path parameter is declared.
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"").skip(1) {
        let target = r.split('"').next().unwrap();
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{target}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref {target}"
        );
    }
    let samples = [
        ("{slug}", "ward-bed-census"),
        ("{code}", "RXA"),
        ("{id}", "1"),
        ("{name}", "kh03-quarterly"),
        ("{period}", "2026-27-Q1"),
    ];
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
            // Whatever takes a token may be limited: its 429 is documented with Retry-After.
            if op["responses"].get("401").is_some() {
                assert!(
                    op["responses"]["429"]["headers"]
                        .get("Retry-After")
                        .is_some(),
                    "{method} {path}: no 429"
                );
            }
            for p in path.split('{').skip(1) {
                let p = p.split('}').next().unwrap();
                assert!(
                    op["parameters"]
                        .as_array()
                        .is_some_and(|ps| ps.iter().any(|x| x["name"] == p && x["in"] == "path")),
                    "{method} {path}: {p} undeclared"
                );
            }
            if method != "get" {
                continue;
            }
            let mut url = format!("/api/v1{path}");
            for (k, v) in samples {
                url = url.replace(k, v);
            }
            if path.ends_with("/download") {
                url.push_str("?format=csv");
            }
            for token in [Some(t.tokens.dap.as_str()), None] {
                let a = t.api(Method::GET, &url, token, None).await;
                let documented = &op["responses"][a.status.as_str()];
                assert!(
                    !documented.is_null(),
                    "{url} answered {} which is not documented: {}",
                    a.status,
                    a.text()
                );
                // It is served as one of the types documented for its status.
                let served = a
                    .headers
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                let main = |t: &str| t.split(';').next().unwrap().trim().to_owned();
                if let Some(content) = documented["content"].as_object() {
                    assert!(
                        content.keys().any(|k| main(k) == main(&served)),
                        "{url} is served as {served}, documented as {:?}",
                        content.keys().collect::<Vec<_>>()
                    );
                }
                if main(&served) != "application/json" {
                    checked += 1;
                    continue;
                }
                let Some(schema) = documented.pointer("/content/application~1json/schema") else {
                    checked += 1;
                    continue;
                };
                // Resolve against the document's components.
                let mut wrapped = schema.clone();
                wrapped["components"] = doc["components"].clone();
                let validator = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .build(&wrapped)
                    .unwrap_or_else(|e| panic!("{url}: the schema does not compile: {e}"));
                let body = a.json();
                let errors: Vec<String> = validator
                    .iter_errors(&body)
                    .map(|e| format!("{} at {}", e, e.instance_path()))
                    .take(5)
                    .collect();
                assert!(errors.is_empty(), "{url}: {}", errors.join("; "));
                checked += 1;
            }
        }
    }
    assert!(checked >= 28, "only {checked} GET answers were checked");
}
