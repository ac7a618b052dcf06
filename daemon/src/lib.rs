//! The genq daemon: owns the job database, drives jobs through their providers, downloads
//! and stores outputs, and serves clients on a local socket.

pub mod batch;
pub mod catalog;
pub mod config;
pub mod engine;
pub mod http;
pub mod lock;
pub mod outputs;
pub mod providers;
pub mod s3_endpoint;
pub mod secret;
pub mod server;
pub mod store;

mod lifecycle;

pub use lifecycle::{RunOptions, run};
