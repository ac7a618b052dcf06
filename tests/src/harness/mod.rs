//! Test harness: an isolated genq home per test with its config pointing at the fakes
//! (`home.rs`), the real `genq` and `genqd` binaries (`bins.rs`), a raw protocol client for
//! poking the socket directly (`client.rs`), a wake-up on daemon events (`pulse.rs`),
//! process and output helpers (`process.rs`), a real OpenSSH server on loopback (`sshd.rs`),
//! a TCP relay that adds latency (`delay.rs`), and the HTTP API's port, token and Python
//! (`http.rs`).

mod bins;
mod client;
mod delay;
mod home;
mod http;
mod process;
mod pulse;
mod sshd;

pub use bins::{genq_bin, genqd_bin};
pub use client::RawClient;
pub use delay::DelayProxy;
pub use home::{Home, catalog_section, init_tls};
pub use http::{create_token, free_port, http_section, python, wait_http};
pub use process::{PATIENCE, alive, set_mode, stderr, stdout, terminate, wait_gone};
pub use pulse::EventPulse;
pub use sshd::Sshd;
