//! The national returns over a small lake: the bundled returns against golden files and
//! figures worked out by hand, what a return says of its own completeness, and packs.

#[path = "../common/mod.rs"]
mod common;

mod bundled;
mod completeness;
mod held;
mod licences;
mod nil;
mod packs;
mod revisions;
mod signoff;
mod unchanged;
