//! How things look: state icons and colours, and the formatting of durations and sizes.

use genq_protocol::{JobState, Timestamp};
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

/// `42s`, `3m05s`, `2h07m`, `3d04h`.
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// `812 B`, `1.4 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Cuts `s` to `max` characters, with an ellipsis when cut; newlines become spaces.
pub fn truncate(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        return flat;
    }
    let mut out: String = flat.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Time of day (UTC) with seconds, for the timeline and the message log.
pub fn clock(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    s.get(11..19).unwrap_or(&s).to_string()
}
