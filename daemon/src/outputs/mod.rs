//! Outputs: downloading what a provider produced the moment it is ready, verifying it,
//! keeping it under `outputs/YYYY/MM/<job-id>/` with `params.json` beside it, and uploading
//! it to storage targets ([`storage`]).
//!
//! [`fetch`] is one download attempt; the engine owns retries and the provider's request
//! budget around it. After a restart, [`verify_existing`] tells whether a file already on
//! disk is complete, and [`remove_partials`] clears what a killed download left behind.

mod chunk;
mod detect;
mod disk;
mod download;
mod fetch;
mod fsutil;
mod params;
mod png_text;
mod rendition;
pub mod storage;
mod verify;

pub use chunk::{Chunk, ChunkError, read_chunk, resolve_inside};
pub use detect::FileType;
pub use disk::{Usage, delete_job_dir, find_existing, job_dir, usage};
pub use download::{FetchLimits, OutputError};
pub use fetch::fetch;
pub use fsutil::{remove_partials, write_atomic};
pub use params::{PARAMS_FILE, params_record, png_params_json, write_params_json};
pub use png_text::{PNG_KEYWORD, read_png_params};
pub use rendition::{Rendition, RenditionError, RenditionKey, rendition};
pub use verify::{ExpectedOutput, hash_file, verify_existing};
