//! The JSON API over the small returns world: what each role may do (and nothing more),
//! tokens refused, decisions and downloads checked and audited. Uploads are in
//! uploads.rs, the OpenAPI document in openapi.rs.

mod analyst;
mod decisions;
mod downloads;
mod golive;
mod roles;
mod sharing;
mod tokens;
