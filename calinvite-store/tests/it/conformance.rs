#![allow(clippy::unwrap_used)]
//! The lifecycle conformance suite (`calinvite_tests::conformance`) on SQLite
//! and on PostgreSQL: every scenario the in-memory store passes, one test
//! each per database (`sqlite::ingest::brief_story`,
//! `postgres::answers::recurring_instances`, …).
//!
//! SQLite runs in a fresh file per test. PostgreSQL runs in a fresh schema per
//! test on `CALINVITE_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); an unreachable server fails the
//! test — it never skips.

use crate::support;

mod sqlite {
    use super::support::on_sqlite;

    calinvite_tests::conformance_tests!(on_sqlite);
}

mod postgres {
    use super::support::on_postgres;

    calinvite_tests::conformance_tests!(on_postgres);
}
