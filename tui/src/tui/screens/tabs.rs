//! The screens and the tab line that names them: their order (for Tab and the number
//! keys), the labels, which tab a click hit, and the reconnect banner beside them.

use crate::format;
use crate::tui::shared::{Connection, Shared};
use crate::tui::theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Jobs,
    Detail,
    Submit,
    Models,
    Loras,
    Help,
    /// The message log.
    Messages,
}

impl Screen {
    /// Help and the message log open over another screen and return to it.
    pub fn is_overlay(self) -> bool {
        matches!(self, Screen::Help | Screen::Messages)
    }
}

/// The screens Tab visits, in tab-line order.
pub const CYCLE: [Screen; 5] = [
    Screen::Jobs,
    Screen::Detail,
    Screen::Submit,
    Screen::Models,
    Screen::Loras,
];

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

/// The screen whose tab is at column `col` of a tab line `width` wide showing `current`.
pub fn tab_at(col: u16, width: u16, current: Screen) -> Option<Screen> {
    let mut x = TABS_START;
    for (label, screen) in tab_labels(width, current) {
        let w = label.chars().count() as u16;
        if (x..x + w).contains(&col) {
            return Some(screen);
        }
        x += w;
    }
    None
}

/// The tab line with `current` highlighted, and the banner while the daemon is away.
pub fn draw(frame: &mut Frame, area: Rect, current: Screen, shared: &Shared) {
    let mut spans = vec![Span::styled("genq ", theme::title())];
    spans.extend(tab_labels(area.width, current).map(|(label, screen)| {
        let style = if screen == current {
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
        } else {
            Style::new()
        };
        Span::styled(label, style)
    }));
    if let Connection::Reconnecting { attempt, delay_ms } = &shared.conn {
        let text = if *attempt == 0 {
            " ⟳ daemon connection lost, reconnecting… ".to_string()
        } else {
            format!(
                " ⟳ reconnecting #{attempt} in {} ",
                format::duration_compact(*delay_ms as i64 + 999)
            )
        };
        spans.push(Span::styled(
            text,
            Style::new().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
