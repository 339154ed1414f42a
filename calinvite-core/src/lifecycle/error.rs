//! The error every lifecycle call returns: refused, not found, misused, or
//! the store failed. Shared by the pipeline and the reports (which need no pipeline).

use super::model::Refusal;
use super::store::StoreError;

/// A pipeline call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The request was refused; the reason is typed and recorded.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The caller named something that is not theirs or does not exist.
    /// Another tenant's data is reported this way too, so that its existence
    /// is never revealed.
    #[error("not found: {0}")]
    NotFound(String),
    /// The caller used the API wrongly: an argument that can never be right
    /// (an event built with another code than the one it was given, an
    /// update that changes the event's code). A bug in the calling
    /// application, not bad input from the network nor a missing record.
    #[error("misuse: {0}")]
    Misuse(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The identifier source could not draw a code or token; nothing was
    /// changed.
    #[error(transparent)]
    IdSource(#[from] crate::clock::IdSourceError),
}

impl From<Refusal> for PipelineError {
    fn from(r: Refusal) -> Self {
        PipelineError::Refused(r)
    }
}
