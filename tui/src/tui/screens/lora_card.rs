//! A LoRA's details in a popup over the gallery or a job's detail (Enter): title, author,
//! base model, trigger words, tags, the page URL and the models that take it.

use crate::tui::action::UiAction;
use crate::tui::command::Command;
use crate::tui::screens::loras::count;
use crate::tui::screens::popup::centered;
use crate::tui::screens::scroll::text_scroll;
use crate::tui::shared::Shared;
use crate::tui::theme;
use genq_protocol::catalog::LoraCard;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

/// A LoRA's details shown over the current screen.
#[derive(Clone, Debug, PartialEq)]
pub struct CardPopup {
    pub card: Box<LoraCard>,
    pub scroll: u16,
}

impl CardPopup {
    pub fn new(card: LoraCard) -> CardPopup {
        CardPopup {
            card: Box::new(card),
            scroll: 0,
        }
    }

    pub fn scroll(&mut self, ui: UiAction, shared: &Shared) {
        self.scroll = text_scroll(self.scroll, ui, shared.size.1);
    }

    /// `y`: the LoRA's page URL to the clipboard.
    pub fn copy(&self, shared: &mut Shared) -> Vec<Command> {
        let url = self.card.page_url.clone();
        shared.note(format!("copied {url}"));
        vec![Command::Copy(url)]
    }
}

pub fn draw(frame: &mut Frame, area: Rect, popup: &CardPopup) {
    let width = area.width.saturating_sub(4).clamp(1, 90);
    let height = area.height.saturating_sub(2).max(1);
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .title(" LoRA ")
        .title_bottom(Line::styled(
            " n new job · y copy URL · Esc close ",
            theme::dim(),
        ))
        .border_style(Style::new().fg(Color::Cyan));
    let lines = lines(popup);
    let inner_h = block.inner(rect).height;
    let max = (lines.len() as u16).saturating_sub(inner_h);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((popup.scroll.min(max), 0))
            .block(block),
        rect,
    );
}

fn kv(key: &str, value: String) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{key:<11}"), theme::dim()),
        Span::raw(value),
    ])
}

fn lines(popup: &CardPopup) -> Vec<Line<'static>> {
    let c = &popup.card;
    let mut out = vec![Line::styled(c.title.clone(), theme::title())];
    if let Some(cn) = c.title_cn.as_ref().filter(|t| **t != c.title) {
        out.push(Line::raw(cn.clone()));
    }
    out.push(kv("id", c.id.clone()));
    out.push(kv(
        "author",
        c.author.clone().unwrap_or_else(|| "unknown".into()),
    ));
    let base = match (&c.base_model, &c.base_model_raw) {
        (Some(f), Some(raw)) if f != raw => format!("{f} ({raw})"),
        (Some(f), _) => f.clone(),
        (None, Some(raw)) => raw.clone(),
        (None, None) => "unknown".into(),
    };
    out.push(kv("base model", base));
    if let Some(repo) = &c.base_repo {
        out.push(kv("base repo", repo.clone()));
    }
    let mut stats = Vec::new();
    if let Some(d) = c.downloads {
        let period = c
            .downloads_period
            .as_deref()
            .map_or(String::new(), |p| format!(" ({p})"));
        stats.push(format!("↓{}{period}", count(d)));
    }
    if let Some(l) = c.likes {
        stats.push(format!("♥{}", count(l)));
    }
    if !stats.is_empty() {
        out.push(kv("stats", stats.join(" · ")));
    }
    let none = || "none".to_string();
    let triggers = c.trigger_words.join(", ");
    out.push(kv(
        "triggers",
        Some(triggers)
            .filter(|t| !t.is_empty())
            .unwrap_or_else(none),
    ));
    let tags = c.tags.join(", ");
    out.push(kv(
        "tags",
        Some(tags).filter(|t| !t.is_empty()).unwrap_or_else(none),
    ));
    out.push(kv("page", c.page_url.clone()));
    if let Some(u) = &c.updated_at {
        out.push(kv("updated", u.clone()));
    }
    if let Some(l) = &c.license {
        out.push(kv("license", l.clone()));
    }
    out.push(Line::styled("Models that take it", theme::title()));
    if c.compatible_models.is_empty() {
        out.push(Line::styled(
            "  none known (jobs take ModelScope LoRAs of a supported family)",
            theme::dim(),
        ));
    }
    for m in &c.compatible_models {
        out.push(Line::raw(format!("  {m}")));
    }
    out
}
