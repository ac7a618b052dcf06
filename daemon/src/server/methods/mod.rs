//! Request handlers, one file per group of methods, and the table that routes each method
//! to its handler.

mod batches;
mod catalog;
mod daemon;
mod errors;
mod jobs;
mod outputs;
mod params;
mod providers;
mod table;

pub use params::{check_i64, params};
pub use table::{dispatch, to_json};
