//! Help, generated from the keymap for the screen it was opened from, plus the global keys.

use crate::tui::app::{App, Screen};
use crate::tui::keymap::Context;
use crate::tui::theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let ctx = match app.help_for {
        Screen::Jobs | Screen::Help | Screen::Messages => Context::Jobs,
        Screen::Detail => Context::Detail,
        Screen::Submit => Context::Submit,
        Screen::Models => Context::Models,
        Screen::Loras => Context::Loras,
    };
    let mut lines = Vec::new();
    for c in [ctx, Context::Global] {
        lines.push(Line::styled(c.title(), theme::title()));
        let mut rows: Vec<(String, &str)> = Vec::new();
        for b in app.keymap.bindings(c) {
            match rows.iter_mut().find(|(_, d)| *d == b.description) {
                Some((keys, _)) => keys.push_str(&format!(", {}", b.key)),
                None => rows.push((b.key.to_string(), b.description)),
            }
        }
        for (keys, desc) in rows {
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<14}"), Style::new().fg(Color::Cyan)),
                Span::raw(desc.to_string()),
            ]));
        }
        lines.push(Line::raw(""));
    }
    let max = (lines.len() as u16).saturating_sub(area.height.saturating_sub(2));
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((app.help_scroll.min(max), 0))
            .block(Block::bordered().title(format!(" Help · {} ", ctx.title()))),
        area,
    );
}
