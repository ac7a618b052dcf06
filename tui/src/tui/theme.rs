//! How things look: state icons and colours, and a screen with nothing to show yet.

use genq_protocol::JobState;
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Paragraph};

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

/// A screen with nothing to show yet: `message`, dimmed, in a frame titled `title`.
pub fn placeholder<'a>(title: &'a str, message: &'a str) -> Paragraph<'a> {
    Paragraph::new(message)
        .style(dim())
        .block(Block::bordered().title(title))
}
