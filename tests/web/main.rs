//! The web service: the JSON API and what each role may do through it, the pages, uploads,
//! the OpenAPI document, the pages in a real browser, and `tally serve` over a real socket.

#[path = "../common/mod.rs"]
mod common;

mod api;
mod browser;
mod correction;
mod dap;
mod held;
mod nil;
mod openapi;
mod pages;
mod progress;
mod provider;
mod schemathesis;
mod serve;
mod signoff;
mod templates;
mod uploads;
