//! The detail screen's state: the open job with its events and preview, the cards of the
//! LoRAs jobs used (`loras.get`), and which of the open job's LoRAs is marked.

use crate::tui::action::{CallError, UiAction};
use crate::tui::command::Command;
use crate::tui::preview::{Image, Preview};
use crate::tui::screens::scroll::{cycle, text_scroll};
use crate::tui::shared::{CHROME_ROWS, Shared};
use genq_protocol::catalog::LoraCard;
use genq_protocol::{Event, EventBody, Job, JobId};
use std::collections::HashMap;

/// Terminal width from which the preview pane is shown.
const PREVIEW_MIN_WIDTH: u16 = 90;

/// The preview pane's inner size in cells for a terminal of `size`; zero when none is shown.
pub fn preview_size(size: (u16, u16)) -> (u16, u16) {
    let (w, h) = size;
    if w < PREVIEW_MIN_WIDTH {
        return (0, 0);
    }
    (w / 3 - 2, h.saturating_sub(CHROME_ROWS + 2))
}

pub enum PreviewState {
    None,
    Loading,
    Ready(ratatui_image::protocol::Protocol),
    Failed(String),
}

/// The job on the detail screen.
pub struct DetailView {
    pub id: JobId,
    /// The id people see (the job's number), for the title while the job loads.
    pub short_id: String,
    pub job: Option<Job>,
    pub events: Vec<Event>,
    pub scroll: u16,
    pub preview: PreviewState,
}

/// A LoRA card looked up for the detail screen.
#[derive(Clone, Debug, PartialEq)]
pub enum LoraLookup {
    Loading,
    Found(Box<LoraCard>),
    Failed(String),
}

#[derive(Default)]
pub struct DetailScreen {
    /// The job shown, once one was opened.
    pub open: Option<DetailView>,
    /// Cards of LoRAs that jobs used, by repo (`loras.get`).
    pub lora_cards: HashMap<String, LoraLookup>,
    /// Which of the open job's LoRAs Enter and `L` open.
    pub lora: usize,
}

impl DetailScreen {
    /// The open job, once loaded.
    pub fn job(&self) -> Option<&Job> {
        self.open.as_ref().and_then(|d| d.job.as_ref())
    }

    fn open_with(&mut self, id: &JobId) -> Option<&mut DetailView> {
        self.open.as_mut().filter(|d| &d.id == id)
    }

    /// Shows `job` (keeping what was loaded when it is already the open one); the caller
    /// passes the job on to [`DetailScreen::job_loaded`] and fetches it fresh.
    pub fn show(&mut self, job: &Job) {
        if self.open.as_ref().is_some_and(|d| d.id == job.id) {
            return;
        }
        self.open = Some(DetailView {
            id: job.id.clone(),
            short_id: job.short_id(),
            job: None,
            events: Vec::new(),
            scroll: 0,
            preview: PreviewState::None,
        });
    }

    /// `jobs.get` for the open job and its events, when one is open.
    pub fn refetch(&self) -> Vec<Command> {
        match &self.open {
            Some(d) => vec![
                Command::FetchJob(d.id.clone()),
                Command::FetchEvents(d.id.clone()),
            ],
            None => Vec::new(),
        }
    }

    /// A fresh copy of a job: kept when it is the open one, with its LoRA cards asked
    /// for and its preview loaded.
    pub fn job_loaded(&mut self, job: Job, shared: &Shared) -> Vec<Command> {
        let mut cmds = Vec::new();
        if self.open.as_ref().is_some_and(|d| d.id == job.id) {
            cmds.extend(self.fetch_job_loras(&job));
        }
        let (cols, rows) = preview_size(shared.size);
        if let Some(d) = self.open_with(&job.id) {
            if shared.previews
                && matches!(d.preview, PreviewState::None)
                && cols > 0
                && let Some(path) = preview_path(&job)
            {
                d.preview = PreviewState::Loading;
                cmds.push(Command::LoadPreview {
                    id: job.id.clone(),
                    path,
                    cols,
                    rows,
                });
            }
            d.job = Some(job);
        }
        cmds
    }

    pub fn events_loaded(&mut self, id: &JobId, events: Vec<Event>) {
        if let Some(d) = self.open_with(id) {
            d.events = events;
        }
    }

    /// The open job's output is on the daemon's machine only: its preview comes from the
    /// daemon, sized for the pane.
    pub fn preview_not_local(&mut self, id: &JobId, shared: &Shared) -> Vec<Command> {
        let (cols, rows) = preview_size(shared.size);
        match self.open_with(id) {
            Some(d) if matches!(d.preview, PreviewState::Loading) && cols > 0 => {
                vec![Command::FetchPreview {
                    id: id.clone(),
                    cols,
                    rows,
                }]
            }
            _ => Vec::new(),
        }
    }

    pub fn preview_ready(&mut self, preview: Preview) {
        if let Some(d) = self.open_with(&preview.id) {
            d.preview = match preview.result {
                Ok(Image(p)) => PreviewState::Ready(p),
                Err(e) => PreviewState::Failed(e),
            };
        }
    }

    /// A live event for the open job: progress and state at once, the event added to the
    /// timeline. Returns whether the job should be fetched again.
    pub fn apply_event(&mut self, event: Event) -> bool {
        let Some(d) = self.open_with(&event.job_id) else {
            return false;
        };
        if let (Some(job), EventBody::Progress { progress }) = (d.job.as_mut(), &event.body) {
            job.progress = Some(*progress);
        }
        if let (Some(job), EventBody::State { to, .. }) = (d.job.as_mut(), &event.body) {
            job.state = *to;
        }
        let stale = !matches!(event.body, EventBody::Progress { .. });
        if !d.events.iter().any(|e| e.seq == event.seq) {
            d.events.push(event);
        }
        stale
    }

    /// Up, down and paging scroll the job's text.
    pub fn scroll(&mut self, ui: UiAction, shared: &Shared) {
        if let Some(d) = self.open.as_mut() {
            d.scroll = text_scroll(d.scroll, ui, shared.size.1);
        }
    }

    /// Left / right: the next or previous of the job's LoRAs.
    pub fn pick_lora(&mut self, forward: bool) {
        let n = self.job().map_or(0, |j| j.params.loras.len());
        if n > 0 {
            self.lora = cycle(self.lora % n, n, forward);
        }
    }

    /// The open job's LoRA that Enter and `L` open.
    pub fn lora_repo(&self) -> Option<&str> {
        let job = self.job()?;
        let n = job.params.loras.len();
        (n > 0).then(|| job.params.loras[self.lora % n].repo.as_str())
    }

    /// `loras.get` for the LoRAs of `job` not looked up yet.
    fn fetch_job_loras(&mut self, job: &Job) -> Vec<Command> {
        let mut cmds = Vec::new();
        for l in &job.params.loras {
            if !self.lora_cards.contains_key(&l.repo) {
                self.lora_cards.insert(l.repo.clone(), LoraLookup::Loading);
                cmds.push(Command::FetchLoraCard(l.repo.clone()));
            }
        }
        cmds
    }

    pub fn card_loaded(&mut self, card: LoraCard) {
        self.lora_cards
            .insert(card.id.clone(), LoraLookup::Found(Box::new(card)));
    }

    pub fn card_failed(&mut self, id: String, error: &CallError) {
        self.lora_cards
            .insert(id, LoraLookup::Failed(error.to_string()));
    }

    /// Whether the open job is still running (its time and progress move).
    pub fn moving(&self) -> bool {
        self.job().is_some_and(|j| !j.state.is_final())
    }
}

/// The first output worth previewing: a local image file.
fn preview_path(job: &Job) -> Option<String> {
    job.outputs
        .iter()
        .filter(|o| {
            o.mime.as_deref().is_none_or(|m| m.starts_with("image/"))
                && o.path.as_deref().is_some_and(|p| {
                    let p = p.to_ascii_lowercase();
                    p.ends_with(".png")
                        || p.ends_with(".jpg")
                        || p.ends_with(".jpeg")
                        || p.ends_with(".webp")
                })
        })
        .find_map(|o| o.path.clone())
}
