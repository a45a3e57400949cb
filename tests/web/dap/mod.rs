//! DAP runs the register from its pages: proposing (a check that records nothing, then the
//! proposal), deciding with an override per blocking finding and nothing typed lost on a
//! refusal, renewing, suspending, reinstating and retiring with a confirm step, licensing a
//! return's query, the budget, the audit log, the provider directory and reporting rates;
//! admin's tokens. Providers and DHSC are refused all of it.

mod admin;
mod decisions;
mod directory;
mod returns;

use crate::common;

use common::web::{TestApp, csrf_field};

pub fn proposal(name: &str) -> String {
    std::fs::read_to_string(common::repo().join(format!("collections/proposals/{name}.toml")))
        .unwrap()
}

/// A form on a page, with the page's CSRF token.
pub async fn post(
    t: &TestApp,
    page: &str,
    to: &str,
    who: &str,
    fields: &[(&str, &str)],
) -> common::web::Answer {
    let csrf = csrf_field(&t.page(page, Some(who)).await.text());
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    t.form(to, Some(who), &all).await
}

pub async fn propose_form(t: &TestApp, who: &str, step: &str, text: &str) -> common::web::Answer {
    let csrf = csrf_field(&t.page("/dap/proposals/new", Some(who)).await.text());
    t.upload(
        "/dap/proposals/new",
        None,
        Some(who),
        &[("csrf", &csrf), ("step", step), ("definition", text)],
        None,
    )
    .await
}
