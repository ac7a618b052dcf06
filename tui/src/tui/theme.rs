//! How things look: state icons and colours.

use genq_protocol::JobState;
use ratatui::style::{Color, Modifier, Style};

pub fn state_icon(state: JobState) -> &'static str {
    match state {
        JobState::Queued => "·",
        JobState::Submitting => "↑",
        JobState::Running => "▶",
        JobState::Fetching => "↓",
        JobState::Storing => "⇣",
        JobState::Succeeded => "✓",
        JobState::Failed => "✗",
        JobState::Canceled => "⊘",
    }
}

pub fn state_color(state: JobState) -> Color {
    match state {
        JobState::Queued => Color::Gray,
        JobState::Submitting | JobState::Running | JobState::Fetching | JobState::Storing => {
            Color::Cyan
        }
        JobState::Succeeded => Color::Green,
        JobState::Failed => Color::Red,
        JobState::Canceled => Color::Yellow,
    }
}

pub fn state_style(state: JobState) -> Style {
    Style::new().fg(state_color(state))
}

pub fn title() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub fn error() -> Style {
    Style::new().fg(Color::Red)
}

pub fn selected() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}
