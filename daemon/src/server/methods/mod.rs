//! Request handlers, one file per group of methods, and the table that routes each method
//! to its handler.

mod batches;
pub mod catalog;
pub mod daemon;
mod errors;
pub mod jobs;
pub mod outputs;
mod params;
pub mod providers;
mod table;
mod tokens;

pub use params::{check_i64, params};
pub use table::{dispatch, to_json};
