//! The app: the screens, the context they share, and the routing between them. Only
//! [`App::update`] changes state; it returns the [`crate::tui::command::Command`]s the
//! event loop runs, and does no I/O.

mod batches;
mod keys;
mod navigation;
mod replies;
mod state;

pub use state::App;
