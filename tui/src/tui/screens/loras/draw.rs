//! The LoRA gallery: a header with the search, filter, sort and marks, then a grid of cards
//! (cover, title, author, downloads, base model). Only the cards on screen are drawn; the
//! state fetches pages as the selection nears them.

use super::gallery::{self, CoverState, Gallery, PAGE_SIZE};
use crate::format;
use crate::tui::shared::{CHROME_ROWS, Shared};
use crate::tui::theme;
use genq_protocol::catalog::{LoraCard, LoraSort, LoraSource};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph, Wrap};
use ratatui_image::Image;
use throbber_widgets_tui::Throbber;

/// Narrowest card.
const CARD_MIN_W: u16 = 24;
/// Card height: border, cover, title, author, stats.
const CARD_H: u16 = 8;
/// Terminal row of the grid's first line (tab line, header).
pub const GRID_TOP: u16 = 2;

/// Columns and rows of cards for a terminal of `size`, and one card's width and height.
pub fn grid(size: (u16, u16)) -> (u16, u16, u16, u16) {
    let (w, h) = size;
    let cols = (w / CARD_MIN_W).max(1);
    let rows = (h.saturating_sub(CHROME_ROWS + 1) / CARD_H).max(1);
    (cols, rows, w / cols, CARD_H)
}

/// The cover's size in cells inside a card `card_w` wide.
pub fn cover_size(card_w: u16) -> (u16, u16) {
    (card_w.saturating_sub(2), CARD_H - 5)
}

pub fn draw(frame: &mut Frame, area: Rect, g: &Gallery, shared: &Shared) {
    let [head, body] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    draw_header(frame, head, g, shared);
    if let Some(err) = &g.error {
        let (headline, detail) = err.explain(g.source);
        let mut lines = vec![Line::styled(headline, theme::error()), Line::raw("")];
        lines.extend(detail.lines().map(|l| Line::raw(l.to_string())));
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(" LoRAs ")),
            body,
        );
        return;
    }
    if g.pages.is_empty() {
        let msg = if !g.loading.is_empty() || !g.started {
            "loading LoRAs from the catalog…"
        } else {
            "no LoRAs match; / changes the search, f the base model"
        };
        frame.render_widget(theme::placeholder(" LoRAs ", msg), body);
        return;
    }
    let (cols, rows, card_w, card_h) = grid(shared.size);
    for r in 0..rows {
        for c in 0..cols {
            let index = (g.scroll_row + u64::from(r)) * u64::from(cols) + u64::from(c);
            if index >= g.len() {
                return;
            }
            let rect = Rect {
                x: body.x + c * card_w,
                y: body.y + r * card_h,
                width: card_w,
                height: card_h,
            }
            .intersection(body);
            if rect.height < 3 {
                continue;
            }
            draw_card(frame, rect, g, index);
        }
    }
}

fn draw_header(frame: &mut Frame, area: Rect, g: &Gallery, shared: &Shared) {
    let mut spans = vec![Span::styled("LoRAs ", theme::title())];
    // Narrow terminals name the source only when it is not the default.
    if area.width >= 80 || g.source != LoraSource::Modelscope {
        spans.push(Span::raw(format!("· {} ", gallery::source_name(g.source))));
    }
    let sort = match g.sort {
        LoraSort::Downloads => "downloads",
        LoraSort::Newest => "newest",
    };
    spans.push(Span::raw(format!("· {sort} ")));
    if let Some(base) = g.base_filter() {
        spans.push(Span::raw(format!("· {base} ")));
    }
    if !g.search.applied.is_empty() {
        spans.push(Span::raw(format!(
            "· \"{}\" ",
            format::truncate(&g.search.applied, 16)
        )));
    }
    if !g.loading.is_empty() {
        let spin = Throbber::default().to_symbol_span(&shared.spinner);
        spans.push(Span::styled(
            format!("{}loading ", spin.content),
            Style::new().fg(Color::Yellow),
        ));
    }
    let len = g.len();
    if len > 0 {
        let of = match (g.end, g.total) {
            (Some(n), _) | (None, Some(n)) => n.to_string(),
            (None, None) => "?".into(),
        };
        spans.push(Span::styled(
            format!("· {}/{of} ", g.selected + 1),
            theme::dim(),
        ));
    }
    if let Some(n) = g.end.filter(|n| *n > 0 && *n < u64::from(PAGE_SIZE)) {
        spans.push(Span::styled(
            format!("· only {n} (asked {PAGE_SIZE}) "),
            Style::new().fg(Color::Yellow),
        ));
    }
    if !g.marked.is_empty() {
        spans.push(Span::styled(
            format!("· ✓{} marked, n new job", g.marked.len()),
            Style::new().fg(Color::Green),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_card(frame: &mut Frame, area: Rect, g: &Gallery, index: u64) {
    let selected = index == g.selected;
    let Some(card) = g.card(index) else {
        frame.render_widget(
            Paragraph::new("loading…")
                .style(theme::dim())
                .block(Block::bordered().border_type(BorderType::Plain)),
            area,
        );
        return;
    };
    let marked = g.is_marked(&card.id);
    let border = if selected {
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
    } else if marked {
        Style::new().fg(Color::Green)
    } else {
        theme::dim()
    };
    let mut block = Block::bordered()
        .border_type(if selected {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(border);
    if marked {
        block = block.title(Line::styled("✓", Style::new().fg(Color::Green)));
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [cover, text] = Layout::vertical([
        Constraint::Length(inner.height.saturating_sub(3)),
        Constraint::Length(3),
    ])
    .areas(inner);
    draw_cover(frame, cover, g, card);
    let author = card.author.as_deref().unwrap_or("unknown author");
    let downloads = card.downloads.map_or("–".into(), gallery::count);
    let base = card
        .base_model
        .as_deref()
        .or(card.base_model_raw.as_deref())
        .unwrap_or("base ?");
    let title_style = if selected {
        Style::new().add_modifier(Modifier::BOLD)
    } else {
        Style::new()
    };
    frame.render_widget(
        Paragraph::new(vec![
            Line::styled(card.title.clone(), title_style),
            Line::styled(format!("by {author}"), theme::dim()),
            Line::from(vec![
                Span::styled(format!("↓{downloads} "), Style::new().fg(Color::Cyan)),
                Span::styled(base.to_string(), Style::new().fg(Color::Magenta)),
            ]),
        ]),
        text,
    );
}

fn draw_cover(frame: &mut Frame, area: Rect, g: &Gallery, card: &LoraCard) {
    if area.height == 0 {
        return;
    }
    if gallery::cover_is_dead(card) {
        frame.render_widget(Paragraph::new("▨ no cover").style(theme::dim()), area);
        return;
    }
    match g.covers.get(&card.id) {
        Some(CoverState::Ready(p)) => frame.render_widget(Image::new(p), area),
        Some(CoverState::Missing) => frame.render_widget(
            Paragraph::new("▨ cover unreadable").style(theme::dim()),
            area,
        ),
        Some(CoverState::Loading) => {
            frame.render_widget(Paragraph::new("◌ cover…").style(theme::dim()), area)
        }
        None => frame.render_widget(Paragraph::new("◌").style(theme::dim()), area),
    }
}
