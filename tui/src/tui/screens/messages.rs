//! The message log (`M`): every message the status bar showed, in full and wrapped, with
//! its time; newest at the bottom, scrolled up from there.

use crate::format;
use crate::tui::action::UiAction;
use crate::tui::screens::scroll::text_page;
use crate::tui::shared::Shared;
use crate::tui::theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

#[derive(Debug, Default)]
pub struct MessagesScreen {
    /// Lines scrolled up from the newest.
    pub scroll: u16,
}

impl MessagesScreen {
    /// The log is scrolled up from its newest line.
    pub fn scroll(&mut self, ui: UiAction, shared: &Shared) {
        let page = text_page(shared.size.1);
        let s = self.scroll;
        self.scroll = match ui {
            UiAction::Up => s.saturating_add(1),
            UiAction::Down => s.saturating_sub(1),
            UiAction::Top => u16::MAX / 2,
            UiAction::Bottom => 0,
            UiAction::PageUp => s.saturating_add(page),
            _ => s.saturating_sub(page),
        };
    }
}

pub fn draw(frame: &mut Frame, area: Rect, screen: &MessagesScreen, shared: &Shared) {
    let block = Block::bordered().title(format!(
        " Messages · {} · newest last ",
        shared.messages.entries.len()
    ));
    let inner = block.inner(area);
    let width = usize::from(inner.width.max(1));
    let mut lines: Vec<Line> = Vec::new();
    if shared.messages.entries.is_empty() {
        lines.push(Line::styled("no messages yet", theme::dim()));
    }
    for m in &shared.messages.entries {
        let style = if m.error {
            theme::error()
        } else {
            Style::new()
        };
        let mark = if m.error { "✗ " } else { "" };
        let text = format!(
            "{} {mark}{}",
            format::time_of_day(m.at, time::UtcOffset::UTC),
            m.text
        );
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
    let top = bottom.saturating_sub(screen.scroll);
    frame.render_widget(Paragraph::new(lines).scroll((top, 0)).block(block), area);
}
