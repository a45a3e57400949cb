//! The register of data collections: definitions, the governance workflow, the creep checks
//! and the burden model.

pub mod burden;
pub mod checks;
pub mod definition;
pub mod governance;
pub mod load;

pub use governance::Registry;

/// What the registry refuses, in words a DAP member or provider can act on.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("there is no collection \"{0}\" in the register")]
    NotFound(String),
    /// The register changed under the request, or the request does not fit its state.
    #[error("{0}")]
    Conflict(String),
    /// The request breaks a governance rule (a missing reason, a blocking finding).
    #[error("{0}")]
    Refused(String),
    /// Rule 1: nothing is pulled, accepted or published unless it is listed and unexpired.
    #[error(
        "{slug} is not a licensed collection: {why}. Nothing is collected for it, and providers may ignore any request for it."
    )]
    NotLicensed { slug: String, why: String },
}
