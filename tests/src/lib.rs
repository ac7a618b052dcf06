//! End-to-end tests for genq: the test harness (an isolated genq home per test, the real
//! binaries, a raw protocol client) and the fake provider servers the tests run against
//! (also served by the `fake-providers` binary for manual tries).

pub mod fakes;
pub mod harness;
