//! The public pages invitations link to: web answers, one-click
//! unsubscribe (RFC 8058) and call-to-action links that invite whoever
//! follows them.

pub mod links;

use axum::Router;

use crate::state::AppState;

/// The public pages' routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
}

/// The public pages' tables.
pub(crate) const MIGRATION: &[&str] = &[];
