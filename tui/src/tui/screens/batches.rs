//! The jobs screen grouped by batch (`b`): one row per batch with its progress bar and
//! counts, newest first; Enter opens a batch's rows (its jobs, with row number, state and
//! output path). Cancel and retry act on the whole batch. Live events on its jobs refetch
//! `batch.list` (and the open batch).

use crate::format;
use crate::tui::action::UiAction;
use crate::tui::command::{BatchCall, Command};
use crate::tui::screens::confirm::Confirm;
use crate::tui::screens::jobs::visible_rows;
use crate::tui::screens::scroll::{list_motion, shown};
use crate::tui::shared::Shared;
use crate::tui::theme;
use genq_protocol::JobState;
use genq_protocol::batch::{BatchCounts, BatchDetail, BatchInfo, BatchRow};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};

#[derive(Debug, Default)]
pub struct BatchesScreen {
    /// Whether the jobs screen shows batches instead of jobs.
    pub grouped: bool,
    /// `batch.list`, newest first.
    pub batches: Vec<BatchInfo>,
    pub loaded: bool,
    pub selected: usize,
    /// The batch whose rows are shown, once `batch.get` answered.
    pub open: Option<BatchDetail>,
    /// The batch Enter asked for, until its rows arrive.
    pub opening: Option<u64>,
    pub row_selected: usize,
}

impl BatchesScreen {
    /// `b`: batches instead of jobs, or back.
    pub fn toggle(&mut self) -> Vec<Command> {
        self.grouped = !self.grouped;
        self.open = None;
        self.opening = None;
        if self.grouped {
            vec![Command::Batch(BatchCall::List)]
        } else {
            Vec::new()
        }
    }

    pub fn selected_batch(&self) -> Option<&BatchInfo> {
        self.batches.get(self.selected)
    }

    /// The batch cancel and retry act on: the open one, else the selected one.
    fn target(&self) -> Option<&BatchInfo> {
        match &self.open {
            Some(detail) => Some(&detail.batch),
            None => self.selected_batch(),
        }
    }

    fn open_id(&self) -> Option<u64> {
        self.open.as_ref().map(|d| d.batch.id).or(self.opening)
    }

    /// The list, and the open batch, fetched again.
    pub fn refetch(&self) -> Vec<Command> {
        let mut cmds = vec![Command::Batch(BatchCall::List)];
        cmds.extend(self.open_id().map(|id| Command::Batch(BatchCall::Get(id))));
        cmds
    }

    pub fn motion(&mut self, ui: UiAction, shared: &Shared) {
        let page = visible_rows(shared.size.1).max(1);
        let (len, at) = match &self.open {
            Some(detail) => (detail.rows.len(), &mut self.row_selected),
            None => (self.batches.len(), &mut self.selected),
        };
        *at = list_motion(*at, ui, len, page);
    }

    /// Enter: the selected batch's rows.
    pub fn open_selected(&mut self) -> Vec<Command> {
        if self.open.is_some() {
            return Vec::new();
        }
        let Some(id) = self.selected_batch().map(|b| b.id) else {
            return Vec::new();
        };
        self.opening = Some(id);
        self.row_selected = 0;
        vec![Command::Batch(BatchCall::Get(id))]
    }

    /// Esc: from a batch's rows back to the batches; `false` when there was none open.
    pub fn close(&mut self) -> bool {
        self.opening = None;
        self.open.take().is_some()
    }

    pub fn list_loaded(&mut self, batches: Vec<BatchInfo>) {
        self.batches = batches;
        self.loaded = true;
        self.selected = self.selected.min(self.batches.len().saturating_sub(1));
    }

    /// `batch.get`'s answer, kept only for the batch still asked for.
    pub fn detail_loaded(&mut self, detail: BatchDetail) {
        if self.open_id() != Some(detail.batch.id) {
            return;
        }
        self.opening = None;
        self.row_selected = self.row_selected.min(detail.rows.len().saturating_sub(1));
        if let Some(b) = self.batches.iter_mut().find(|b| b.id == detail.batch.id) {
            *b = detail.batch.clone();
        }
        self.open = Some(detail);
    }

    /// A batch canceled or retried: its new counts at once.
    pub fn batch_changed(&mut self, batch: &BatchInfo) {
        if let Some(b) = self.batches.iter_mut().find(|b| b.id == batch.id) {
            *b = batch.clone();
        }
        if let Some(detail) = self.open.as_mut().filter(|d| d.batch.id == batch.id) {
            detail.batch = batch.clone();
        }
    }

    /// Cancel asks before canceling the batch; retry sends its failed and canceled rows again.
    pub fn action(&self, ui: UiAction, shared: &mut Shared) -> (Option<Confirm>, Vec<Command>) {
        let Some(batch) = self.target() else {
            return (None, Vec::new());
        };
        let c = &batch.counts;
        match ui {
            UiAction::Cancel if c.finished() => {
                shared.note(format!("batch {} has finished", batch.id));
                (None, Vec::new())
            }
            UiAction::Cancel => {
                let confirm = Confirm {
                    question: format!("Cancel batch {} ({} rows left)?", batch.id, left(c)),
                    command: Command::Batch(BatchCall::Cancel(batch.id)),
                };
                (Some(confirm), Vec::new())
            }
            UiAction::Retry if c.failed + c.canceled == 0 => {
                shared.note(format!("batch {} has no failed rows", batch.id));
                (None, Vec::new())
            }
            UiAction::Retry => (None, vec![Command::Batch(BatchCall::Retry(batch.id))]),
            _ => (None, Vec::new()),
        }
    }
}

/// Rows not yet ended.
fn left(c: &BatchCounts) -> u64 {
    c.pending + c.in_flight
}

/// Rows that ended, whatever their end.
fn ended(c: &BatchCounts) -> u64 {
    c.succeeded + c.failed + c.canceled
}

pub fn draw(frame: &mut Frame, area: Rect, screen: &BatchesScreen, shared: &Shared) {
    match &screen.open {
        Some(detail) => draw_rows(frame, area, detail, screen.row_selected, shared),
        None => draw_list(frame, area, screen, shared),
    }
}

fn draw_list(frame: &mut Frame, area: Rect, screen: &BatchesScreen, shared: &Shared) {
    let count = match screen.batches.len() {
        0 => " 0 ".to_string(),
        n => format!(" {}/{n} ", screen.selected + 1),
    };
    let block = Block::bordered()
        .title(Line::styled(" Jobs by batch ", theme::title()))
        .title_top(Line::from(count).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if screen.batches.is_empty() {
        let msg = if screen.loaded {
            "no batches yet; genq batch FILE submits one · b shows jobs"
        } else {
            "loading batches…"
        };
        frame.render_widget(Paragraph::new(Line::styled(msg, theme::dim())), inner);
        return;
    }
    let wide = inner.width >= 80;
    let n = visible_rows(shared.size.1).min(inner.height.saturating_sub(1) as usize);
    let rows = shown(&screen.batches, screen.selected, n).map(|(b, selected)| {
        let row = batch_row(b, wide);
        if selected {
            row.style(theme::selected())
        } else {
            row
        }
    });
    let (widths, header) = if wide {
        let mut header = vec![
            Cell::from(""),
            "batch".into(),
            "name".into(),
            "progress".into(),
        ];
        for h in ["done", "failed", "in flight", "waiting"] {
            header.push(Cell::from(Line::from(h).right_aligned()));
        }
        (
            vec![
                Constraint::Length(1),
                Constraint::Length(5),
                Constraint::Fill(1),
                Constraint::Length(20),
                Constraint::Length(6),
                Constraint::Length(6),
                Constraint::Length(9),
                Constraint::Length(7),
            ],
            header,
        )
    } else {
        (
            vec![
                Constraint::Length(1),
                Constraint::Length(5),
                Constraint::Fill(1),
                Constraint::Length(22),
            ],
            ["", "batch", "name", "done/failed/run/wait"]
                .map(Cell::from)
                .to_vec(),
        )
    };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme::dim()))
        .column_spacing(1);
    frame.render_widget(table, inner);
}

/// What a batch's counts amount to, as a job state for its icon and colour.
fn batch_state(b: &BatchInfo) -> JobState {
    let c = &b.counts;
    if !c.finished() {
        JobState::Running
    } else if b.canceled {
        JobState::Canceled
    } else if c.failed + c.canceled > 0 {
        JobState::Failed
    } else {
        JobState::Succeeded
    }
}

fn batch_row(b: &BatchInfo, wide: bool) -> Row<'_> {
    let c = &b.counts;
    let state = batch_state(b);
    let mut cells = vec![
        Cell::from(theme::state_icon(state)).style(theme::state_style(state)),
        Cell::from(format!("#{}", b.id)),
        Cell::from(format::truncate(&b.name, 60)),
    ];
    if wide {
        let percent = (ended(c) * 100).checked_div(c.total).unwrap_or(0) as u8;
        let bar = format!(
            "{} {}/{}",
            format::progress_bar(percent, 8),
            ended(c),
            c.total
        );
        cells.push(Cell::from(bar).style(Style::new().fg(Color::Cyan)));
        for n in [c.succeeded, c.failed, c.in_flight, c.pending] {
            cells.push(Cell::from(Line::from(n.to_string()).right_aligned()));
        }
    } else {
        let counts = format!("{}/{}/{}/{}", c.succeeded, c.failed, c.in_flight, c.pending);
        cells.push(Cell::from(counts));
    }
    Row::new(cells)
}

fn draw_rows(
    frame: &mut Frame,
    area: Rect,
    detail: &BatchDetail,
    selected: usize,
    shared: &Shared,
) {
    let b = &detail.batch;
    let c = &b.counts;
    let title = format!(
        " Batch #{} · {} · {} done, {} failed, {} in flight, {} waiting ",
        b.id, b.name, c.succeeded, c.failed, c.in_flight, c.pending
    );
    let count = match detail.rows.len() {
        0 => " 0 ".to_string(),
        n => format!(" {}/{n} ", selected + 1),
    };
    let block = Block::bordered()
        .title(Line::styled(title, theme::title()))
        .title_top(Line::from(count).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let n = visible_rows(shared.size.1).min(inner.height.saturating_sub(1) as usize);
    let wide = inner.width >= 80;
    let rows = shown(&detail.rows, selected, n).map(|(r, is_selected)| {
        let row = batch_job_row(r, wide);
        if is_selected {
            row.style(theme::selected())
        } else {
            row
        }
    });
    let mut widths = vec![
        Constraint::Length(4),
        Constraint::Length(5),
        Constraint::Length(10),
    ];
    let mut header = vec!["row", "job", "state"];
    if wide {
        widths.push(Constraint::Fill(1));
        header.push("prompt");
    }
    widths.push(Constraint::Fill(2));
    header.push("output");
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme::dim()))
        .column_spacing(1);
    frame.render_widget(table, inner);
}

/// Where a row's file is: where it was copied, else its `output` path, else the job's file.
fn row_output(r: &BatchRow) -> String {
    r.copied
        .first()
        .or(r.output.as_ref())
        .cloned()
        .or_else(|| r.outputs.iter().find_map(|o| o.path.clone()))
        .unwrap_or_default()
}

fn batch_job_row(r: &BatchRow, wide: bool) -> Row<'_> {
    let (state, style) = match r.state {
        Some(s) => (s.as_str(), theme::state_style(s)),
        None => ("waiting", theme::dim()),
    };
    let job = r.job_num.map(|n| n.to_string()).unwrap_or_default();
    let mut cells = vec![
        Cell::from(Line::from(r.index.to_string()).right_aligned()),
        Cell::from(job),
        Cell::from(state).style(style),
    ];
    if wide {
        cells.push(Cell::from(format::truncate(&r.prompt, 200)));
    }
    cells.push(Cell::from(row_output(r)));
    Row::new(cells)
}
