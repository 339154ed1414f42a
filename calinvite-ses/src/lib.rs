//! # calinvite-ses
//!
//! calinvite on AWS SES. This crate will hold:
//!
//! - a `Transport` over SESv2 `SendEmail` with raw content (the bytes the core
//!   assembled, unchanged), with a shared token-bucket send-rate limit and SES
//!   errors mapped to transient or permanent outcomes;
//! - parsers for SES notifications delivered through SNS (inbound mail,
//!   bounces, complaints, deliveries), accepted only when their SNS signature
//!   verifies.
//!
//! The AWS SDK is heavy to build; this crate stays out of the workspace's
//! `default-members` once it depends on it, and its tests still run in CI.
//!
//! Status: placeholder; it compiles so the workspace has its final shape.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use calinvite_core as core;
