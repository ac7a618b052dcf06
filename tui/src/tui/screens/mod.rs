//! The screens and dialogs. Each owns its state, the way keys and replies change it, and
//! its drawing; each is given the [`crate::tui::shared::Shared`] context, never the app.

pub mod batches;
pub mod confirm;
pub mod detail;
pub mod help;
pub mod jobs;
pub mod lora_card;
pub mod loras;
pub mod messages;
pub mod models;
pub mod popup;
pub mod scroll;
pub mod search;
pub mod submit;
pub mod tabs;
