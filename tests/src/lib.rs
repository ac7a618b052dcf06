//! End-to-end tests for genq and the fake servers they run against.

pub mod harness;
