//! National returns: SQL files in `queries/`, each with a TOML sidecar that says what it is,
//! run by DataFusion over the current versions of listed collections' extracts for the
//! periods the return needs. A build reports completeness, applies disclosure control to
//! person counts, and is kept as an immutable, numbered artifact with a manifest.

pub mod artifact;
pub mod build;
pub mod bundle;
pub mod catalogue;
pub mod cells;
pub mod columns;
pub mod completeness;
pub mod disclosure;
pub mod export;
mod gather;
pub mod licence;
pub mod metadata;
pub mod provisional;
pub mod query;
pub mod revision;
pub mod scheduled;
pub mod sdmx;
pub mod table;

pub use build::{Artifact, Manifest, build};
pub use catalogue::{Catalogue, Column, Measure, ReturnDef};
pub use completeness::Completeness;
