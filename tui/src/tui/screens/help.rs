//! Help, generated from the keymap for the screen it was opened from, plus the global keys.

use crate::tui::action::UiAction;
use crate::tui::keymap::Context;
use crate::tui::screens::scroll::text_scroll;
use crate::tui::shared::Shared;
use crate::tui::theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

#[derive(Debug, Default)]
pub struct HelpScreen {
    pub scroll: u16,
}

impl HelpScreen {
    pub fn scroll(&mut self, ui: UiAction, shared: &Shared) {
        self.scroll = text_scroll(self.scroll, ui, shared.size.1);
    }
}

/// The keys of `ctx` (where help was opened from) and the global ones.
pub fn draw(frame: &mut Frame, area: Rect, help: &HelpScreen, ctx: Context, shared: &Shared) {
    let mut lines = Vec::new();
    for c in [ctx, Context::Global] {
        lines.push(Line::styled(c.title(), theme::title()));
        let mut rows: Vec<(String, &str)> = Vec::new();
        for b in shared.keymap.bindings(c) {
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
            .scroll((help.scroll.min(max), 0))
            .block(Block::bordered().title(format!(" Help · {} ", ctx.title()))),
        area,
    );
}
