//! Test support for genq: fake provider servers (used in-process by end-to-end tests and by the
//! `fake-providers` binary).

pub mod fakes;
