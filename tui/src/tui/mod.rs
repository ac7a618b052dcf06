//! The terminal UI: watch, inspect and submit jobs. Shaped event → action → state → draw:
//! terminal events and daemon replies become [`action::Action`]s, [`app::App::update`] is
//! the only place state changes (returning [`command::Command`]s for the event loop to
//! run), and [`frame::draw`] is a pure function of the state. Each screen in [`screens`]
//! owns its state, its updates and its drawing, and sees only [`shared::Shared`].

pub mod action;
pub mod app;
pub mod catalog;
pub mod clipboard;
pub mod command;
pub mod event_loop;
pub mod export;
pub mod frame;
pub mod key;
pub mod keymap;
pub mod live;
pub mod message_log;
pub mod preview;
pub mod remote;
pub mod runner;
pub mod screens;
pub mod shared;
pub mod side_link;
pub mod status_bar;
pub mod terminal;
pub mod theme;

#[cfg(test)]
mod tests;

pub use app::App;
pub use event_loop::run;
pub use frame::draw;
