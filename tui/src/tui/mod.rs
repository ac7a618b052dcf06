//! The terminal UI: watch, inspect and submit jobs. Shaped event → action → state → draw:
//! terminal events and daemon replies become [`action::Action`]s, [`app::App::update`] is
//! the only place state changes (returning [`command::Command`]s for the event loop to run),
//! and [`screens::draw`] is a pure function of the state.

pub mod action;
pub mod app;
pub mod browse;
pub mod catalog;
pub mod clipboard;
pub mod command;
pub mod event_loop;
pub mod export;
pub mod form;
pub mod gallery;
pub mod job_actions;
pub mod keymap;
pub mod messages;
pub mod navigation;
pub mod preview;
pub mod screens;
pub mod search;
pub mod side_link;
pub mod status_bar;
pub mod submitting;
pub mod terminal;
pub mod theme;

#[cfg(test)]
mod tests;

pub use app::App;
pub use screens::draw;

/// Runs the TUI until the user quits. Connects to the daemon first (starting it when
/// `autostart` allows), so a daemon that cannot start is reported on the plain terminal.
pub async fn run(paths: genq_protocol::Paths, autostart: bool) -> anyhow::Result<()> {
    event_loop::run(paths, autostart).await
}
