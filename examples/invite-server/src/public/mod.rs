//! The pages behind the links in invitations and marketing mail:
//! call-to-action links, web RSVP and unsubscribe.

use axum::Router;

use crate::state::AppState;

/// The public pages' tables (none yet).
pub(crate) const MIGRATION: &[&str] = &[];

/// The public pages' routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
}
