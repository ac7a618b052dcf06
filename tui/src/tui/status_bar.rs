//! The status bar: connection, jobs by state, provider quota when known, and the last error
//! or message (cut to fit, pointing at the message log).

use crate::format;
use crate::tui::shared::{Connection, Shared};
use crate::tui::theme;
use genq_protocol::JobState;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(frame: &mut Frame, area: Rect, shared: &Shared) {
    let mut spans = match &shared.conn {
        Connection::Connected { version } => {
            vec![Span::styled(
                format!("● genqd {version}"),
                Style::new().fg(Color::Green),
            )]
        }
        Connection::Connecting => {
            vec![Span::styled("○ connecting", Style::new().fg(Color::Yellow))]
        }
        Connection::Reconnecting { .. } => {
            vec![Span::styled("○ disconnected", Style::new().fg(Color::Red))]
        }
    };
    for state in JobState::ALL {
        if let Some(n) = shared.counts.get(state.as_str()).filter(|n| **n > 0) {
            spans.push(Span::raw(" "));
            spans.push(Span::styled(
                format!("{}{n}", theme::state_icon(state)),
                theme::state_style(state),
            ));
        }
    }
    for q in &shared.quotas {
        let text = match (q.remaining, &q.detail) {
            (Some(n), _) => format!(" {} {n} left", q.provider),
            (None, Some(d)) => format!(" {} {}", q.provider, format::truncate(d, 24)),
            (None, None) => continue,
        };
        let style = if q.remaining == Some(0) {
            theme::error()
        } else {
            theme::dim()
        };
        spans.push(Span::styled(text, style));
    }
    spans.push(Span::raw("  "));
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let room = usize::from(area.width).saturating_sub(used);
    if let Some(info) = &shared.info {
        spans.push(Span::raw(fit(info, room)));
    } else if let Some(err) = &shared.last_error {
        spans.push(Span::styled(fit(&format!("✗ {err}"), room), theme::error()));
    }
    frame.render_widget(
        Paragraph::new(Line::from(spans)).style(Style::new().bg(Color::Reset)),
        area,
    );
}

/// `text` cut to `room` columns; a cut message says where to read it whole.
fn fit(text: &str, room: usize) -> String {
    const MORE: &str = " … M shows all";
    if text.chars().count() <= room {
        return text.to_string();
    }
    let keep = room.saturating_sub(MORE.chars().count());
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(MORE);
    out
}
