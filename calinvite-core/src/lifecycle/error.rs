//! The error every lifecycle call returns: refused, not found, or the store
//! failed. Shared by the pipeline and the reports (which need no pipeline).

use super::model::Refusal;
use super::store::StoreError;

/// A pipeline call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The request was refused; the reason is typed and recorded.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The caller named something that is not theirs or does not exist
    /// (a caller mistake, not bad input from the network).
    #[error("not found: {0}")]
    NotFound(String),
    /// The call itself is wrong: what it asks for can never be done (a
    /// domain owner whose mailboxes are not its own, say). Fix the caller.
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
