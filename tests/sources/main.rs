//! From a provider's system to the lake: the http, sql and mesh connectors, landing a CSV
//! extract and the other formats, a landing killed part-way, and mangled input at scale.

#[path = "../common/mod.rs"]
mod common;

mod formats;
mod fuzz;
mod http;
mod interrupted;
mod landing;
mod mesh;
mod sql;
