//! The jobs screen: the table of jobs, newest first, one row per job. Only the window on
//! screen is fetched (`total` sizes the scrollbar); the state filter, the sort and the `/`
//! search are sent to `jobs.list`, and live events change rows in place.

use crate::format;
use crate::tui::action::UiAction;
use crate::tui::command::Command;
use crate::tui::screens::scroll::{cycle, list_motion};
use crate::tui::screens::search::Search;
use crate::tui::shared::{CHROME_ROWS, Shared};
use crate::tui::theme;
use genq_protocol::methods::{JobPage, ListParams, Sort};
use genq_protocol::{Event, EventBody, Job, JobId, JobState};
use ratatui::Frame;
use ratatui::layout::{Constraint, Margin, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Cell, Paragraph, Row, Scrollbar, ScrollbarOrientation, ScrollbarState, Table, Wrap,
};
use throbber_widgets_tui::Throbber;

/// The state filters `f` / `F` cycle through.
pub const FILTERS: &[(&str, &[JobState])] = &[
    ("all", &[]),
    (
        "active",
        &[
            JobState::Queued,
            JobState::Submitting,
            JobState::Running,
            JobState::Fetching,
            JobState::Storing,
        ],
    ),
    ("succeeded", &[JobState::Succeeded]),
    ("failed", &[JobState::Failed]),
    ("canceled", &[JobState::Canceled]),
];

/// Table rows that fit in a terminal `height` rows high: minus chrome, borders and header.
pub fn visible_rows(height: u16) -> usize {
    height.saturating_sub(CHROME_ROWS + 3).max(1) as usize
}

/// Terminal rows above the table's first row: the tab line, the border and the header.
const TABLE_TOP: u16 = 3;

#[derive(Debug, Default)]
pub struct JobsScreen {
    /// The fetched rows; `rows[0]` is row number `offset` of the filtered list.
    pub rows: Vec<Job>,
    pub offset: u64,
    pub total: u64,
    /// First row on screen.
    pub scroll: u64,
    /// Selected row (absolute).
    pub selected: u64,
    pub filter: usize,
    /// The `/` search; it filters as it is typed.
    pub search: Search,
    pub sort: Sort,
    /// Tags page requests so a late reply for an old window or filter is dropped.
    pub generation: u64,
    pub loading: bool,
    pub loaded: bool,
}

impl JobsScreen {
    pub fn row(&self, index: u64) -> Option<&Job> {
        index
            .checked_sub(self.offset)
            .and_then(|i| self.rows.get(i as usize))
    }

    pub fn selected_job(&self) -> Option<&Job> {
        self.row(self.selected)
    }

    pub fn has_row(&self, id: &JobId) -> bool {
        self.rows.iter().any(|j| &j.id == id)
    }

    /// Rows the table shows at the current size.
    fn page_rows(shared: &Shared) -> u64 {
        visible_rows(shared.size.1) as u64
    }

    pub fn list_params(&self, shared: &Shared) -> ListParams {
        let limit =
            (Self::page_rows(shared) as u32).clamp(1, genq_protocol::methods::LIST_MAX_LIMIT);
        ListParams {
            state: FILTERS[self.filter].1.to_vec(),
            text: Some(self.search.applied.clone()).filter(|s| !s.is_empty()),
            limit: Some(limit),
            sort: self.sort,
            offset: Some(self.scroll),
            ..ListParams::default()
        }
    }

    pub fn fetch_page(&mut self, shared: &Shared) -> Command {
        self.generation += 1;
        self.loading = true;
        Command::FetchPage {
            generation: self.generation,
            params: self.list_params(shared),
        }
    }

    /// Keeps the selection on screen; fetches when the window moved past the cached rows.
    pub fn follow_selection(&mut self, shared: &Shared) -> Vec<Command> {
        let rows = Self::page_rows(shared);
        self.selected = self.selected.min(self.total.saturating_sub(1));
        if self.selected < self.scroll {
            self.scroll = self.selected;
        } else if self.selected >= self.scroll + rows {
            self.scroll = self.selected + 1 - rows;
        }
        let last_needed = (self.scroll + rows).min(self.total);
        let cached_end = self.offset + self.rows.len() as u64;
        if self.scroll < self.offset || last_needed > cached_end {
            vec![self.fetch_page(shared)]
        } else {
            Vec::new()
        }
    }

    /// Back to the top of the list, fetched again (a new filter, sort or search).
    pub fn reset_list(&mut self, shared: &Shared) -> Vec<Command> {
        self.scroll = 0;
        self.selected = 0;
        vec![self.fetch_page(shared)]
    }

    /// `Ctrl-R`: the page on screen and the status again.
    pub fn refresh(&mut self, shared: &Shared) -> Vec<Command> {
        let mut cmds = self.follow_selection(shared);
        if cmds.is_empty() {
            cmds.push(self.fetch_page(shared));
        }
        cmds.push(Command::FetchStatus);
        cmds
    }

    pub fn motion(&mut self, ui: UiAction, shared: &Shared) -> Vec<Command> {
        let page = Self::page_rows(shared).max(1);
        self.selected = list_motion(self.selected, ui, self.total, page);
        self.follow_selection(shared)
    }

    /// `f` / `F`: the next or previous state filter.
    pub fn cycle_filter(&mut self, forward: bool, shared: &Shared) -> Vec<Command> {
        self.filter = cycle(self.filter, FILTERS.len(), forward);
        self.reset_list(shared)
    }

    pub fn toggle_sort(&mut self, shared: &Shared) -> Vec<Command> {
        self.sort = match self.sort {
            Sort::Newest => Sort::Oldest,
            Sort::Oldest => Sort::Newest,
        };
        self.reset_list(shared)
    }

    /// The list follows the search as it is typed.
    pub fn search_typed(&mut self, shared: &Shared) -> Vec<Command> {
        if self.search.apply_typed() {
            self.reset_list(shared)
        } else {
            Vec::new()
        }
    }

    /// Esc: closes the prompt (putting back the search from before it), else clears the
    /// search. `None` when there was nothing to close, so Esc goes on to the app.
    pub fn back(&mut self, shared: &Shared) -> Option<Vec<Command>> {
        let changed = self.search.cancel()?;
        Some(if changed {
            self.reset_list(shared)
        } else {
            Vec::new()
        })
    }

    /// A `jobs.list` reply; one for an older request is dropped.
    pub fn page_loaded(
        &mut self,
        generation: u64,
        offset: u64,
        page: JobPage,
        shared: &Shared,
    ) -> Vec<Command> {
        if generation != self.generation {
            return Vec::new();
        }
        self.loading = false;
        self.loaded = true;
        self.rows = page.jobs;
        self.offset = offset;
        self.total = page.total;
        if self.selected >= page.total {
            self.selected = page.total.saturating_sub(1);
            return self.follow_selection(shared);
        }
        Vec::new()
    }

    /// A job was submitted: the top of the list, where it appears.
    pub fn show_newest(&mut self, shared: &Shared) -> Command {
        self.selected = 0;
        self.scroll = 0;
        self.fetch_page(shared)
    }

    /// A fresher copy of a job replaces its row.
    pub fn replace_row(&mut self, job: &Job) {
        if let Some(row) = self.rows.iter_mut().find(|j| j.id == job.id) {
            *row = job.clone();
        }
    }

    /// A left click on terminal row `row` selects the job there.
    pub fn click(&mut self, row: u16, shared: &Shared) {
        let Some(i) = row.checked_sub(TABLE_TOP) else {
            return;
        };
        if usize::from(i) >= visible_rows(shared.size.1) {
            return;
        }
        let index = self.scroll + u64::from(i);
        if index < self.total {
            self.selected = index;
        }
    }

    /// Whether something on screen moves: a running job, or a page on its way.
    pub fn moving(&self, shared: &Shared) -> bool {
        let visible_running = (0..Self::page_rows(shared))
            .filter_map(|i| self.row(self.scroll + i))
            .any(|j| !j.state.is_final());
        visible_running || self.loading
    }

    /// A live event's change to a row on screen, made at once (the refetch comes later).
    pub fn apply_event(&mut self, event: &Event) {
        let id = &event.job_id;
        match &event.body {
            EventBody::State { to, error, .. } => {
                if let Some(row) = self.rows.iter_mut().find(|j| &j.id == id) {
                    row.state = *to;
                    row.updated_at = event.at;
                    if to.is_final() {
                        row.finished_at = Some(event.at);
                        row.progress = None;
                    }
                    if error.is_some() {
                        row.error = error.clone();
                    }
                }
            }
            EventBody::Progress { progress } => {
                if let Some(row) = self.rows.iter_mut().find(|j| &j.id == id) {
                    row.progress = Some(*progress);
                }
            }
            // The row goes at once; the page refills from the daemon.
            EventBody::Removed { .. } => self.rows.retain(|j| &j.id != id),
            _ => {}
        }
    }
}

pub fn draw(frame: &mut Frame, area: Rect, jobs: &JobsScreen, shared: &Shared) {
    let mut title = vec![Span::styled(" Jobs ", theme::title())];
    title.push(Span::raw(format!("· {} ", FILTERS[jobs.filter].0)));
    if jobs.sort == Sort::Oldest {
        title.push(Span::raw("· oldest first "));
    }
    if !jobs.search.applied.is_empty() {
        title.push(Span::raw(format!(
            "· \"{}\" ",
            format::truncate(&jobs.search.applied, 20)
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
        let lines = empty_lines(jobs, shared);
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
        return;
    }

    let wide = inner.width >= 80;
    let n = visible_rows(shared.size.1).min(inner.height.saturating_sub(1) as usize);
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
                let row = job_row(job, shared, wide);
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

/// What an empty table says: loading, nothing matching, nothing yet, or how to add a key.
fn empty_lines(jobs: &JobsScreen, shared: &Shared) -> Vec<Line<'static>> {
    match no_keys(shared) {
        Some(names) if jobs.loaded && jobs.filter == 0 && jobs.search.applied.is_empty() => {
            first_run(&names)
        }
        _ => {
            let msg = if !jobs.loaded {
                "loading jobs…"
            } else if jobs.filter != 0 || !jobs.search.applied.is_empty() {
                "no jobs match; f changes the filter, Esc clears the search"
            } else {
                "no jobs yet; press n to submit one"
            };
            vec![Line::styled(msg, theme::dim())]
        }
    }
}

/// The providers, when `providers.list` says none of them has a key.
fn no_keys(shared: &Shared) -> Option<Vec<&str>> {
    let keys = shared.provider_keys.as_ref().filter(|k| !k.is_empty())?;
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

fn job_row<'a>(job: &'a Job, shared: &Shared, wide: bool) -> Row<'a> {
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
    cells.push(Cell::from(format::truncate(job.prompt(), 200)));
    cells.push(state_cell(job, shared));
    let time = match job.finished_at {
        Some(end) => format::duration_compact(end.millis_since(job.created_at)),
        None => format::duration_compact(shared.now.millis_since(job.created_at)),
    };
    cells.push(Cell::from(Line::from(time).right_aligned()));
    Row::new(cells)
}

/// A progress bar while the provider reports progress, a spinner while running without,
/// else the state name.
fn state_cell<'a>(job: &Job, shared: &Shared) -> Cell<'a> {
    let style = theme::state_style(job.state);
    if job.state.is_final() {
        return Cell::from(job.state.as_str()).style(style);
    }
    match job.running_progress() {
        Some(p) => {
            let bar = format!("{} {p:>3}%", format::progress_bar(p, 8));
            Cell::from(bar).style(Style::new().fg(Color::Cyan))
        }
        None => {
            let spin = Throbber::default().to_symbol_span(&shared.spinner);
            Cell::from(Line::from(vec![
                Span::styled(spin.content.into_owned(), style),
                Span::styled(job.state.as_str(), style),
            ]))
        }
    }
}
