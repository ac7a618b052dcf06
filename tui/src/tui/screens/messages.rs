//! The message log (`M`): every message the status bar showed, in full and wrapped, with
//! its time; newest at the bottom, scrolled up from there.

use crate::tui::app::App;
use crate::tui::theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let block = Block::bordered().title(format!(
        " Messages · {} · newest last ",
        app.messages.entries.len()
    ));
    let inner = block.inner(area);
    let width = usize::from(inner.width.max(1));
    let mut lines: Vec<Line> = Vec::new();
    if app.messages.entries.is_empty() {
        lines.push(Line::styled("no messages yet", theme::dim()));
    }
    for m in &app.messages.entries {
        let style = if m.error {
            theme::error()
        } else {
            Style::new()
        };
        let mark = if m.error { "✗ " } else { "" };
        let text = format!("{} {mark}{}", theme::clock(m.at), m.text);
        // Wrapped here, by characters, so the number of lines is known for scrolling.
        let chars: Vec<char> = text.chars().collect();
        for (i, chunk) in chars.chunks(width).enumerate() {
            let chunk: String = chunk.iter().collect();
            if i == 0 {
                let (time, rest) = chunk.split_at(chunk.len().min(9));
                lines.push(Line::from(vec![
                    Span::styled(time.to_string(), theme::dim()),
                    Span::styled(rest.to_string(), style),
                ]));
            } else {
                lines.push(Line::styled(chunk, style));
            }
        }
    }
    let total = lines.len() as u16;
    let bottom = total.saturating_sub(inner.height);
    let top = bottom.saturating_sub(app.messages.scroll);
    frame.render_widget(Paragraph::new(lines).scroll((top, 0)).block(block), area);
}
