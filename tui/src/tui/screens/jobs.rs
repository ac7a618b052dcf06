//! The jobs table: newest first, one row per job, only the visible window fetched.

use crate::tui::app::{App, FILTERS};
use crate::tui::screens::CHROME_ROWS;
use crate::tui::theme;
use genq_protocol::Job;
use genq_protocol::methods::Sort;
use ratatui::Frame;
use ratatui::layout::{Constraint, Margin, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Cell, Paragraph, Row, Scrollbar, ScrollbarOrientation, ScrollbarState, Table, Wrap,
};
use throbber_widgets_tui::Throbber;

/// Table rows that fit in a terminal `height` rows high: minus chrome, borders and header.
pub fn visible_rows(height: u16) -> usize {
    height.saturating_sub(CHROME_ROWS + 3).max(1) as usize
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let jobs = &app.jobs;
    let mut title = vec![Span::styled(" Jobs ", theme::title())];
    title.push(Span::raw(format!("· {} ", FILTERS[jobs.filter].0)));
    if jobs.sort == Sort::Oldest {
        title.push(Span::raw("· oldest first "));
    }
    if !jobs.search.is_empty() {
        title.push(Span::raw(format!(
            "· \"{}\" ",
            theme::truncate(&jobs.search, 20)
        )));
    }
    let count = if jobs.total == 0 {
        " 0 ".to_string()
    } else {
        format!(" {}/{} ", jobs.selected + 1, jobs.total)
    };
    let block = Block::bordered()
        .title(Line::from(title))
        .title_top(Line::from(count).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);

    if jobs.total == 0 {
        let lines = match no_keys(app) {
            Some(names) if jobs.loaded && jobs.filter == 0 && jobs.search.is_empty() => {
                first_run(&names)
            }
            _ => {
                let msg = if !jobs.loaded {
                    "loading jobs…"
                } else if jobs.filter != 0 || !jobs.search.is_empty() {
                    "no jobs match; f changes the filter, Esc clears the search"
                } else {
                    "no jobs yet; press n to submit one"
                };
                vec![Line::styled(msg, theme::dim())]
            }
        };
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
        return;
    }

    let wide = inner.width >= 80;
    let n = visible_rows(app.size.1).min(inner.height.saturating_sub(1) as usize);
    let visible = || {
        (0..n as u64)
            .map(|i| jobs.scroll + i)
            .filter(|i| *i < jobs.total)
    };
    // Job numbers grow; the column is as wide as the widest one on screen.
    let id_width = visible()
        .filter_map(|i| jobs.row(i))
        .map(|job| job.short_id().len())
        .max()
        .unwrap_or(0)
        .max(2);
    let rows: Vec<Row> = visible()
        .map(|i| match jobs.row(i) {
            Some(job) => {
                let row = job_row(job, app, wide);
                if i == jobs.selected {
                    row.style(theme::selected())
                } else {
                    row
                }
            }
            None => Row::new(vec![Cell::from(""), Cell::from("…")]).style(theme::dim()),
        })
        .collect();
    let mut widths = vec![Constraint::Length(1), Constraint::Length(id_width as u16)];
    let mut header = vec!["", "id"];
    if wide {
        widths.push(Constraint::Percentage(28));
        header.push("provider/model");
    }
    widths.extend([
        Constraint::Fill(1),
        Constraint::Length(14),
        Constraint::Length(7),
    ]);
    header.extend(["prompt", "state", "time"]);
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme::dim()))
        .column_spacing(1);
    frame.render_widget(table, inner);

    if jobs.total as usize > n {
        let mut state = ScrollbarState::new(jobs.total as usize)
            .position(jobs.selected as usize)
            .viewport_content_length(n);
        frame.render_stateful_widget(
            Scrollbar::new(ScrollbarOrientation::VerticalRight)
                .begin_symbol(None)
                .end_symbol(None),
            area.inner(Margin::new(0, 1)),
            &mut state,
        );
    }
}

/// The providers, when `providers.list` says none of them has a key.
fn no_keys(app: &App) -> Option<Vec<&str>> {
    let keys = app.provider_keys.as_ref().filter(|k| !k.is_empty())?;
    (!keys.values().any(|k| *k)).then(|| keys.keys().map(String::as_str).collect())
}

/// What a first run without any key says: how to add one.
fn first_run(names: &[&str]) -> Vec<Line<'static>> {
    let first = names.first().copied().unwrap_or("PROVIDER");
    let others = names.get(1..).unwrap_or_default().join(", ");
    let mut add = vec![
        Span::raw("  "),
        Span::styled(
            format!("genq auth set {first}"),
            Style::new().fg(Color::Cyan),
        ),
    ];
    if !others.is_empty() {
        add.push(Span::styled(format!("   (or {others})"), theme::dim()));
    }
    vec![
        Line::styled(
            "No provider has a key yet, so no job can run.",
            theme::title(),
        ),
        Line::raw("Add one in another terminal:"),
        Line::from(add),
        Line::raw("then press Ctrl-R here, and n to submit a job."),
    ]
}

fn job_row<'a>(job: &'a Job, app: &App, wide: bool) -> Row<'a> {
    let style = theme::state_style(job.state);
    let mut cells = vec![
        Cell::from(theme::state_icon(job.state)).style(style),
        Cell::from(job.short_id()),
    ];
    if wide {
        let model = match &job.model {
            Some(m) => format!("{}/{m}", job.provider),
            None => job.provider.clone(),
        };
        cells.push(Cell::from(model));
    }
    cells.push(Cell::from(theme::truncate(job.prompt(), 200)));
    cells.push(state_cell(job, app));
    let time = match job.finished_at {
        Some(end) => theme::duration(end.millis_since(job.created_at)),
        None => theme::duration(app.now.millis_since(job.created_at)),
    };
    cells.push(Cell::from(Line::from(time).right_aligned()));
    Row::new(cells)
}

/// A progress bar while the provider reports progress, a spinner while running without,
/// else the state name.
fn state_cell<'a>(job: &Job, app: &App) -> Cell<'a> {
    let style = theme::state_style(job.state);
    if job.state.is_final() {
        return Cell::from(job.state.as_str()).style(style);
    }
    match job.progress {
        Some(p) => {
            let filled = (usize::from(p.min(100)) * 8).div_ceil(100);
            let bar = format!("{}{} {p:>3}%", "█".repeat(filled), "░".repeat(8 - filled));
            Cell::from(bar).style(Style::new().fg(Color::Cyan))
        }
        None => {
            let spin = Throbber::default().to_symbol_span(&app.spinner);
            Cell::from(Line::from(vec![
                Span::styled(spin.content.into_owned(), style),
                Span::styled(job.state.as_str(), style),
            ]))
        }
    }
}
