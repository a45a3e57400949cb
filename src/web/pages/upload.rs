//! An upload from the provider's page: a first delivery lands at once; a file for a period
//! that has landed already is a correction, shown with what it changes before it is sent.

use std::sync::Arc;

use axum::extract::{Multipart, Path, State};
use axum::response::Response;

use super::provider::{file_form, land_and_show};
use super::{Nav, PageError};
use crate::web::app::App;
use crate::web::auth::Visitor;
use crate::web::error::ApiError;

pub async fn upload(
    State(app): State<Arc<App>>,
    v: Visitor,
    Path(code): Path<String>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, PageError> {
    let (who, form) = file_form(&app, &v, &code, "upload", form).await?;
    // A period that has landed already: the provider sees what the file would change, and
    // confirms it, before anything is sent. A request the upload would refuse is refused
    // (and audited) by the upload itself, below.
    let preview = crate::schedule::correction::preview(
        &app.registry,
        &form.collection,
        &code,
        &form.period,
        &form.file.path,
        &form.file.name,
        app.now(),
    )
    .await;
    match preview {
        Ok(Some(p)) => return super::correction::ask(&app, &v, &who, &code, form, p).await,
        Ok(None) => {}
        // A request the upload refuses too: refused and audited there, in the same words.
        Err(e) if refused_by_upload(&e) => {}
        // Busy, or our own failure: never land a correction that was not shown.
        Err(e) => return Err(PageError(ApiError::from(e), Nav::of(&v))),
    }
    land_and_show(&app, &v, &who, &code, form.into(), "The file was not taken").await
}

/// Whether a preview's error is a refusal of the request that the upload makes itself.
fn refused_by_upload(e: &anyhow::Error) -> bool {
    use crate::schedule::upload::UploadError;
    e.downcast_ref::<crate::schedule::request::RequestError>()
        .is_some()
        || e.downcast_ref::<crate::domain::RegistryError>().is_some()
        || e.downcast_ref::<UploadError>()
            .is_some_and(|u| !matches!(u, UploadError::Busy | UploadError::DiskFull))
}
