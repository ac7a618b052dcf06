//! The submit form: pickers, text fields, and each field's error or allowed range beside it.

use crate::tui::app::App;
use crate::tui::catalog::SizeLimit;
use crate::tui::form::{Field, SubmitForm};
use crate::tui::theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let form = &app.form;
    let constraints =
        std::iter::once(Constraint::Length(1)).chain(Field::ALL.iter().map(|f| match f {
            Field::Prompt => Constraint::Fill(2),
            Field::Loras => Constraint::Fill(1),
            _ => Constraint::Length(1),
        }));
    let rows = Layout::vertical(constraints).split(area);
    let title = match &form.rerun_of {
        Some(id) => format!("New job (re-run of {id})"),
        None => "New job".to_string(),
    };
    let status = if form.sending {
        "  sending…"
    } else {
        "  Ctrl-S submits"
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(title, theme::title()),
            Span::styled(status, theme::dim()),
        ])),
        rows[0],
    );
    for (i, field) in Field::ALL.iter().enumerate() {
        draw_field(frame, rows[i + 1], form, *field);
    }
}

/// What a field accepts for the current provider, shown when it has no error.
fn hint(form: &SubmitForm, field: Field) -> String {
    let limits = form.limits();
    match field {
        Field::Provider => {
            if form.choices.from_daemon {
                "←/→".into()
            } else {
                "←/→ (built-in list)".into()
            }
        }
        Field::Model => match form.model_choice() {
            Some(m) if !m.default_for.is_empty() => "←/→ default".into(),
            _ => "←/→".into(),
        },
        Field::Prompt => "required".into(),
        Field::Negative => String::new(),
        Field::Size => match limits.size {
            Some(SizeLimit::Sides(lo, hi)) => format!("WxH, {lo}–{hi}"),
            Some(SizeLimit::Area { min, max, .. }) => {
                format!("WxH, {}–{} MP", megapixels(min), megapixels(max))
            }
            None => "n/a".into(),
        },
        Field::Steps => match limits.steps {
            Some((lo, hi)) => format!("{lo}–{hi}"),
            None => "n/a".into(),
        },
        Field::Guidance => match limits.guidance {
            Some((lo, hi)) => format!("{lo}–{hi}"),
            None => "n/a".into(),
        },
        Field::Seed => format!("{}–{}", limits.seed.0, limits.seed.1),
        Field::Count => format!("{}–{}", limits.count.0, limits.count.1),
        Field::Loras => match limits.max_loras {
            0 => "n/a".into(),
            n => format!("repo:weight, ≤{n}, Ctrl-N"),
        },
    }
}

fn megapixels(pixels: u64) -> String {
    let mp = pixels as f64 / 1_000_000.0;
    format!("{}", (mp * 100.0).round() / 100.0)
}

fn draw_field(frame: &mut Frame, area: Rect, form: &SubmitForm, field: Field) {
    let focused = form.focus == field;
    let error = form.errors.get(&field);
    let note = match error {
        Some(e) => format!(" ✗ {e}"),
        None => format!(" {}", hint(form, field)),
    };
    let note_width = (note.chars().count() as u16).min(area.width / 2);
    let [label, input, side] = Layout::horizontal([
        Constraint::Length(10),
        Constraint::Fill(1),
        Constraint::Length(note_width),
    ])
    .areas(area);
    let label_style = if focused {
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
    } else if error.is_some() {
        theme::error()
    } else {
        theme::dim()
    };
    let marker = if focused { "▸" } else { " " };
    frame.render_widget(
        Paragraph::new(format!("{marker}{}", field.label())).style(label_style),
        label,
    );
    let note_style = if error.is_some() {
        theme::error()
    } else {
        theme::dim()
    };
    frame.render_widget(Paragraph::new(note).style(note_style), side);
    match field {
        Field::Provider | Field::Model => {
            let value = if field == Field::Provider {
                form.provider_name()
            } else {
                form.model_name()
            };
            let style = if focused {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            };
            frame.render_widget(
                Paragraph::new(Line::from(vec![
                    Span::raw("‹ "),
                    Span::styled(value, style),
                    Span::raw(" ›"),
                ])),
                input,
            );
        }
        _ => {
            let bg = Style::new().bg(Color::Indexed(236));
            match form.texts.get(&field) {
                Some(ta) if focused => frame.render_widget(ta, input),
                Some(ta) => {
                    frame.render_widget(Paragraph::new(ta.lines().join("\n")).style(bg), input)
                }
                None => {}
            }
        }
    }
}
