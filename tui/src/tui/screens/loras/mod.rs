//! The LoRAs screen: a gallery of LoRA cards from ModelScope, Civitai or Hugging Face,
//! paged in as the selection nears them, with marks for a new job.

mod draw;
mod gallery;
mod update;

pub use draw::{GRID_TOP, cover_size, draw, grid};
pub use gallery::{CoverState, Gallery, GalleryError, PAGE_SIZE, count, even_weights};
