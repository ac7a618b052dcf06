//! The whole frame, a pure function of the [`App`]: the tab line, the screen shown, a hint
//! line generated from the keymap, and the status bar; dialogs float on top.

use crate::tui::action::UiAction;
use crate::tui::app::App;
use crate::tui::keymap::Context;
use crate::tui::screens::tabs::{self, Screen};
use crate::tui::screens::{
    batches, confirm, detail, help, jobs, lora_card, loras, messages, models, submit,
};
use crate::tui::status_bar;
use crate::tui::theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(frame: &mut Frame, app: &App) {
    let [top, body, hints, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let shared = &app.shared;
    tabs::draw(frame, top, app.current_tab(), shared);
    match app.screen {
        Screen::Jobs if app.batches.grouped => batches::draw(frame, body, &app.batches, shared),
        Screen::Jobs => jobs::draw(frame, body, &app.jobs, shared),
        Screen::Detail => detail::draw(frame, body, &app.detail, shared),
        Screen::Submit => submit::draw(frame, body, &app.form, shared),
        Screen::Models => models::draw(frame, body, &app.models),
        Screen::Loras => loras::draw(frame, body, &app.gallery, shared),
        Screen::Help => help::draw(frame, body, &app.help, app.help_context(), shared),
        Screen::Messages => messages::draw(frame, body, &app.messages, shared),
    }
    draw_hints(frame, hints, app);
    status_bar::draw(frame, status, shared);
    if let Some(p) = &app.lora_popup {
        lora_card::draw(frame, body, p);
    }
    if let Some(c) = &app.confirm {
        confirm::draw(frame, body, c);
    }
}

/// The keys valid here, from the keymap (so the hints cannot drift from the bindings).
fn draw_hints(frame: &mut Frame, area: Rect, app: &App) {
    let ctx = app.context();
    if ctx == Context::Search {
        let text = app.search_input().map_or("", String::as_str);
        let line = Line::from(vec![
            Span::styled("/", theme::title()),
            Span::raw(text.to_string()),
            Span::styled("█", Style::new().add_modifier(Modifier::SLOW_BLINK)),
            Span::styled(
                if app.screen == Screen::Jobs {
                    "  filters as you type · Enter done · Esc cancel"
                } else {
                    "  Enter searches · Esc cancel"
                },
                theme::dim(),
            ),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    let mut seen = Vec::new();
    let mut spans = Vec::new();
    for b in app.shared.keymap.bindings(ctx) {
        // Motion keys are obvious; the line has room for the ones that do something.
        if seen.contains(&b.action) || is_motion(b.action) {
            continue;
        }
        seen.push(b.action);
        spans.push(Span::styled(
            b.key.to_string(),
            Style::new().fg(Color::Cyan),
        ));
        spans.push(Span::styled(
            format!(" {}  ", short_hint(b.description)),
            theme::dim(),
        ));
    }
    if ctx != Context::Confirm {
        spans.push(Span::styled("?", Style::new().fg(Color::Cyan)));
        spans.push(Span::styled(" help", theme::dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn is_motion(a: UiAction) -> bool {
    use UiAction::*;
    matches!(
        a,
        Up | Down | Top | Bottom | PageUp | PageDown | FieldPrev | PickPrev | FilterPrev
    )
}

/// The first word or two of a description, for the hint line.
fn short_hint(description: &str) -> &str {
    description.split([' ', ':']).next().unwrap_or(description)
}
