//! The LoRA gallery: cards from ModelScope, Civitai or Hugging Face, cached in the
//! database, with their covers downloaded.
//!
//! [`source`] is what every source shares (context, errors, HTTP, cursor paging) and
//! [`cards`] what their parsers share; [`modelscope`], [`civitai`] and [`huggingface`] each
//! turn one site's replies into cards; [`gallery`] answers listings and details from them
//! and [`covers`] downloads the covers.

mod cards;
mod civitai;
mod covers;
mod gallery;
mod huggingface;
mod modelscope;
mod source;

pub use gallery::{compatible, detail, list};
pub use source::{CatalogError, LoraContext, TTL};
