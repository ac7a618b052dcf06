//! The detail screen: one job in full, its preview and the LoRAs it used.

mod draw;
mod state;

pub use draw::draw;
pub use state::{DetailScreen, DetailView, LoraLookup, PreviewState, preview_size};
