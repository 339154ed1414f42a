//! Landing pages: an organizer's upcoming events on one public page, where
//! a visitor types an address, ticks events and is sent their invitations.

use axum::Router;

use crate::state::AppState;

/// The landing pages' tables (none yet).
pub(crate) const MIGRATION: &[&str] = &[];

/// The landing pages' routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
}
