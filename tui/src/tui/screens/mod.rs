//! Drawing: a pure function of [`App`]. The frame is a tab line, the current screen, a hint
//! line generated from the keymap, and the status bar; dialogs float on top.

pub mod confirm;
pub mod detail;
pub mod help;
pub mod jobs;
pub mod lora_card;
pub mod loras;
pub mod messages;
pub mod models;
pub mod submit;

use crate::tui::action::UiAction;
use crate::tui::app::{App, Connection, Screen};
use crate::tui::keymap::Context;
use crate::tui::status_bar;
use crate::tui::theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Rows taken by the tab line, the hint line and the status bar.
pub const CHROME_ROWS: u16 = 3;

pub fn draw(frame: &mut Frame, app: &App) {
    let [top, body, hints, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_tabs(frame, top, app);
    match app.screen {
        Screen::Jobs => jobs::draw(frame, body, app),
        Screen::Detail => detail::draw(frame, body, app),
        Screen::Submit => submit::draw(frame, body, app),
        Screen::Models => models::draw(frame, body, app),
        Screen::Loras => loras::draw(frame, body, app),
        Screen::Help => help::draw(frame, body, app),
        Screen::Messages => messages::draw(frame, body, app),
    }
    draw_hints(frame, hints, app);
    status_bar::draw(frame, status, app);
    if let Some(p) = &app.lora_popup {
        lora_card::draw(frame, body, p);
    }
    if let Some(c) = &app.confirm {
        confirm::draw(frame, body, c);
    }
}

/// The tabs of the tab line, in order, with their number keys.
const TABS: [(&str, &str, Screen); 5] = [
    ("1", "Jobs", Screen::Jobs),
    ("2", "Detail", Screen::Detail),
    ("3", "Submit", Screen::Submit),
    ("4", "Models", Screen::Models),
    ("5", "LoRAs", Screen::Loras),
];

/// Width of the `genq ` prefix before the tabs.
const TABS_START: u16 = 5;

/// Terminals narrower than this show only the current tab's name.
const TABS_FULL_WIDTH: u16 = 80;

/// The tab labels for a terminal `width` wide with `current` on screen.
fn tab_labels(width: u16, current: Screen) -> impl Iterator<Item = (String, Screen)> {
    TABS.iter().map(move |(n, name, screen)| {
        let label = if width >= TABS_FULL_WIDTH || *screen == current {
            format!(" {n} {name} ")
        } else {
            format!(" {n} ")
        };
        (label, *screen)
    })
}

/// The screen shown in the tab line (help and the log show the tab they were opened from).
fn current_tab(app: &App) -> Screen {
    match app.screen {
        Screen::Help | Screen::Messages => app.help_for,
        s => s,
    }
}

/// The screen whose tab is at column `col` of the tab line.
pub fn tab_at(col: u16, app: &App) -> Option<Screen> {
    let mut x = TABS_START;
    for (label, screen) in tab_labels(app.size.0, current_tab(app)) {
        let w = label.chars().count() as u16;
        if (x..x + w).contains(&col) {
            return Some(screen);
        }
        x += w;
    }
    None
}

fn draw_tabs(frame: &mut Frame, area: Rect, app: &App) {
    let current = current_tab(app);
    let mut spans = vec![Span::styled("genq ", theme::title())];
    spans.extend(tab_labels(area.width, current).map(|(label, screen)| {
        let style = if screen == current {
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
        } else {
            Style::new()
        };
        Span::styled(label, style)
    }));
    if let Connection::Reconnecting { attempt, delay_ms } = &app.conn {
        let text = if *attempt == 0 {
            " ⟳ daemon connection lost, reconnecting… ".to_string()
        } else {
            format!(
                " ⟳ reconnecting #{attempt} in {} ",
                theme::duration(*delay_ms as i64 + 999)
            )
        };
        spans.push(Span::styled(
            text,
            Style::new().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
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
    for b in app.keymap.bindings(ctx) {
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
