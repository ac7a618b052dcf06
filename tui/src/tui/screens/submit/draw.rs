//! The submit form: pickers, text fields, and each field's error or allowed range beside it.

use super::field::Field;
use super::form::SubmitForm;
use super::inputs::LOCAL_ONLY;
use crate::tui::catalog::SizeLimit;
use crate::tui::shared::Shared;
use crate::tui::theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(frame: &mut Frame, area: Rect, form: &SubmitForm, shared: &Shared) {
    let [head, body] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    let title = match &form.rerun_of {
        Some(id) => format!("New job (re-run of {id})"),
        None => "New job".to_string(),
    };
    let status = if form.sending {
        "  sending…"
    } else {
        "  Ctrl-S submits"
    };
    let (first, heights) = field_rows(form, body.height);
    let mut spans = vec![
        Span::styled(title, theme::title()),
        Span::styled(status, theme::dim()),
    ];
    if heights.len() < Field::ALL.len() {
        spans.push(Span::styled(
            format!(
                "  ↕ {}–{}/{}",
                first + 1,
                first + heights.len(),
                Field::ALL.len()
            ),
            theme::dim(),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), head);
    let rows = Layout::vertical(heights.iter().map(|h| Constraint::Length(*h))).split(body);
    for (i, field) in Field::ALL
        .iter()
        .skip(first)
        .take(heights.len())
        .enumerate()
    {
        draw_field(frame, rows[i], form, shared, *field);
    }
}

/// The first field shown and the rows each shown field gets in `height` rows. When every
/// field fits, the prompt and the LoRAs share what is left and the list fields show up to
/// four lines; else one row each, scrolled to keep the focused field in view.
fn field_rows(form: &SubmitForm, height: u16) -> (usize, Vec<u16>) {
    let n = Field::ALL.len();
    let height = usize::from(height);
    if height < n {
        let at = Field::ALL
            .iter()
            .position(|f| *f == form.focus)
            .unwrap_or(0);
        let first = at.saturating_sub(height / 2).min(n - height);
        return (first, vec![1; height]);
    }
    let mut rows = vec![1u16; n];
    let mut left = (height - n) as u16;
    for (i, f) in Field::ALL.iter().enumerate() {
        if matches!(f, Field::Views | Field::Params) {
            let lines = form.texts.get(f).map_or(1, |t| t.lines().len()) as u16;
            let extra = lines.clamp(1, 4).saturating_sub(1).min(left);
            rows[i] += extra;
            left -= extra;
        }
    }
    let prompt_extra = left * 2 / 3;
    for (i, f) in Field::ALL.iter().enumerate() {
        match f {
            Field::Prompt => rows[i] += prompt_extra,
            Field::Loras => rows[i] += left - prompt_extra,
            _ => {}
        }
    }
    (0, rows)
}

/// The provider picked has no key (as `providers.list` says): how to add one.
fn missing_key(form: &SubmitForm, shared: &Shared) -> Option<String> {
    let name = form.provider_name();
    let has = shared.provider_keys.as_ref()?.get(name)?;
    (!has).then(|| format!("no key: genq auth set {name}"))
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
        Field::Image => "path or URL".into(),
        Field::Views => "NAME=PATH per line".into(),
        Field::Params => "KEY=VALUE per line".into(),
        Field::Store => format!("names · {LOCAL_ONLY}: local only · blank: defaults"),
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

fn draw_field(frame: &mut Frame, area: Rect, form: &SubmitForm, shared: &Shared, field: Field) {
    let focused = form.focus == field;
    let error = form.errors.get(&field);
    let warning = (field == Field::Provider && error.is_none())
        .then(|| missing_key(form, shared))
        .flatten();
    let note = match (error, &warning) {
        (Some(e), _) => format!(" ✗ {e}"),
        (None, Some(w)) => format!(" ! {w}"),
        (None, None) => format!(" {}", hint(form, field)),
    };
    // A picker's value is short, so its note may take more of the row.
    let room = match field {
        Field::Provider => area
            .width
            .saturating_sub(14 + form.provider_name().len() as u16),
        Field::Model => area
            .width
            .saturating_sub(14 + form.model_name().len() as u16),
        _ => area.width / 2,
    };
    let note_width = (note.chars().count() as u16).min(room.max(area.width / 2));
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
    } else if warning.is_some() {
        Style::new().fg(Color::Yellow)
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
