//! The app's state and the one place it changes: [`App::update`] takes an [`Action`] and
//! returns the [`Command`]s the event loop should run. No I/O happens here.

use crate::tui::action::{Action, CallError, UiAction};
use crate::tui::catalog::CatalogData;
use crate::tui::command::Command;
use crate::tui::form::{Field, SubmitForm};
use crate::tui::gallery::Gallery;
use crate::tui::keymap::{Context, Keymap};
use crate::tui::messages::MessageLog;
use crate::tui::navigation::CardPopup;
use crate::tui::preview::Preview;
use crate::tui::screens;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use genq_protocol::catalog::LoraCard;
use genq_protocol::methods::{ListParams, Sort, StatusResult};
use genq_protocol::{Event, EventBody, Job, JobId, JobState, Timestamp};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use throbber_widgets_tui::ThrobberState;

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

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Connected { version: String },
    Reconnecting { attempt: u32, delay_ms: u64 },
}

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

/// The jobs table: only the window on screen is fetched; `total` sizes the scrollbar.
#[derive(Debug, Default)]
pub struct JobsView {
    /// The fetched rows; `rows[0]` is row number `offset` of the filtered list.
    pub rows: Vec<Job>,
    pub offset: u64,
    pub total: u64,
    /// First row on screen.
    pub scroll: u64,
    /// Selected row (absolute).
    pub selected: u64,
    pub filter: usize,
    /// The applied search text.
    pub search: String,
    /// The search being typed, while the `/` prompt is open; it filters as it is typed.
    pub search_input: Option<String>,
    /// The search applied when the prompt was opened, restored by Esc.
    pub search_before: Option<String>,
    pub sort: Sort,
    /// Tags page requests so a late reply for an old window or filter is dropped.
    pub generation: u64,
    pub loading: bool,
    pub loaded: bool,
}

impl JobsView {
    pub fn row(&self, index: u64) -> Option<&Job> {
        index
            .checked_sub(self.offset)
            .and_then(|i| self.rows.get(i as usize))
    }

    pub fn selected_job(&self) -> Option<&Job> {
        self.row(self.selected)
    }
}

pub enum PreviewState {
    None,
    Loading,
    Ready(ratatui_image::protocol::Protocol),
    Failed(String),
}

pub struct DetailView {
    pub id: JobId,
    /// The id people see (the job's number), for the title while the job loads.
    pub short_id: String,
    pub job: Option<Job>,
    pub events: Vec<Event>,
    pub scroll: u16,
    pub preview: PreviewState,
}

/// A provider's remaining quota or balance, as `providers.list` last reported it.
#[derive(Clone, Debug, PartialEq)]
pub struct Quota {
    pub provider: String,
    pub remaining: Option<i64>,
    pub detail: Option<String>,
}

/// A question the user must answer before something irreversible.
#[derive(Clone, Debug, PartialEq)]
pub struct Confirm {
    pub id: JobId,
    pub question: String,
}

pub struct App {
    pub screen: Screen,
    /// The screen help or the message log was opened from.
    pub help_for: Screen,
    pub help_scroll: u16,
    pub size: (u16, u16),
    /// The clock used for elapsed times; set by the event loop, fixed in tests.
    pub now: Timestamp,
    pub keymap: Keymap,
    pub conn: Connection,
    pub jobs: JobsView,
    pub detail: Option<DetailView>,
    pub form: SubmitForm,
    pub confirm: Option<Confirm>,
    pub counts: BTreeMap<String, u64>,
    /// Remaining quota by provider, for the providers that report one.
    pub quotas: Vec<Quota>,
    pub last_error: Option<String>,
    /// Set when `last_error` was raised while the daemon was unreachable.
    pub error_offline: bool,
    pub info: Option<String>,
    /// Every message the status bar showed, for `M`.
    pub messages: MessageLog,
    /// Whether each provider has a key, by name, once `providers.list` answered.
    pub provider_keys: Option<BTreeMap<String, bool>>,
    /// A LoRA's details over the screen.
    pub lora_popup: Option<CardPopup>,
    pub last_seq: Option<u64>,
    pub mouse: bool,
    pub previews: bool,
    pub spinner: ThrobberState,
    pub quit: bool,
    /// The shown id of the job whose parameters are being loaded into the form.
    pub(crate) pending_rerun: Option<String>,
    stale_rows: BTreeSet<JobId>,
    stale_page: bool,
    stale_status: bool,
    stale_detail: bool,
    /// The daemon's catalog; empty until `models.list` answers.
    pub catalog: CatalogData,
    pub catalog_loaded: bool,
    pub models_view: ModelsView,
    pub gallery: Gallery,
    /// Cards of LoRAs that jobs used, by repo (`loras.get`).
    pub lora_cards: HashMap<String, LoraLookup>,
    /// Which of the open job's LoRAs `l` opens.
    pub detail_lora: usize,
}

/// The models screen's cursor.
#[derive(Debug, Default)]
pub struct ModelsView {
    pub supplier: usize,
    pub model: usize,
    /// Showing the category tree and the defaults instead of the models.
    pub tree: bool,
}

/// A LoRA card looked up for the detail screen.
#[derive(Clone, Debug, PartialEq)]
pub enum LoraLookup {
    Loading,
    Found(Box<LoraCard>),
    Failed(String),
}

impl App {
    pub fn new(size: (u16, u16), now: Timestamp) -> App {
        App {
            screen: Screen::Jobs,
            help_for: Screen::Jobs,
            help_scroll: 0,
            size,
            now,
            keymap: Keymap::default(),
            conn: Connection::Connecting,
            jobs: JobsView::default(),
            detail: None,
            form: SubmitForm::default(),
            confirm: None,
            counts: BTreeMap::new(),
            quotas: Vec::new(),
            last_error: None,
            error_offline: false,
            info: None,
            messages: MessageLog::default(),
            provider_keys: None,
            lora_popup: None,
            last_seq: None,
            mouse: false,
            previews: false,
            spinner: ThrobberState::default(),
            quit: false,
            pending_rerun: None,
            stale_rows: BTreeSet::new(),
            stale_page: false,
            stale_status: false,
            stale_detail: false,
            catalog: CatalogData::default(),
            catalog_loaded: false,
            models_view: ModelsView::default(),
            gallery: Gallery::default(),
            lora_cards: HashMap::new(),
            detail_lora: 0,
        }
    }

    /// The keymap context for the current screen and overlays.
    pub fn context(&self) -> Context {
        if self.confirm.is_some() {
            return Context::Confirm;
        }
        if self.lora_popup.is_some() {
            return Context::Card;
        }
        if self.search_input().is_some() {
            return Context::Search;
        }
        match self.screen {
            Screen::Jobs => Context::Jobs,
            Screen::Detail => Context::Detail,
            Screen::Submit => Context::Submit,
            Screen::Models => Context::Models,
            Screen::Loras => Context::Loras,
            Screen::Help => Context::Help,
            Screen::Messages => Context::Messages,
        }
    }

    /// Turns a key into an action through the keymap; unbound keys go to the text input.
    pub fn key_action(&self, ev: KeyEvent) -> Action {
        let ctx = self.context();
        if ctx == Context::Submit
            && self.form.focus != Field::Provider
            && self.form.focus != Field::Model
        {
            let cursor_keys = matches!(ev.code, KeyCode::Left | KeyCode::Right)
                || (ev.code == KeyCode::Up && !self.form.cursor_on_first_line())
                || (ev.code == KeyCode::Down && !self.form.cursor_on_last_line());
            if cursor_keys && ev.modifiers == KeyModifiers::NONE {
                return Action::Input(ev);
            }
        }
        match self.keymap.lookup(ctx, &ev) {
            Some(a) => Action::Ui(a),
            None => Action::Input(ev),
        }
    }

    /// Convenience for the loop and tests: key → action → update.
    pub fn key(&mut self, ev: KeyEvent) -> Vec<Command> {
        let action = self.key_action(ev);
        self.update(action)
    }

    /// Whether a periodic tick is needed: something on screen is moving.
    pub fn needs_tick(&self) -> bool {
        let visible_running = (0..self.table_rows() as u64)
            .filter_map(|i| self.jobs.row(self.jobs.scroll + i))
            .any(|j| !j.state.is_final());
        let detail_running = self
            .detail
            .as_ref()
            .and_then(|d| d.job.as_ref())
            .is_some_and(|j| !j.state.is_final());
        visible_running
            || detail_running
            || self.jobs.loading
            || self.form.sending
            || (self.screen == Screen::Loras && !self.gallery.loading.is_empty())
            || matches!(
                self.conn,
                Connection::Reconnecting { .. } | Connection::Connecting
            )
    }

    /// Whether live events left something to refetch (the loop debounces, then flushes).
    pub fn has_stale(&self) -> bool {
        !self.stale_rows.is_empty() || self.stale_page || self.stale_status || self.stale_detail
    }

    /// Rows the jobs table shows at the current size.
    pub fn table_rows(&self) -> usize {
        screens::jobs::visible_rows(self.size.1)
    }

    /// The refetches that live events asked for since the last flush, coalesced.
    pub fn flush_stale(&mut self) -> Vec<Command> {
        let mut cmds = Vec::new();
        if self.stale_page {
            cmds.push(self.fetch_page());
            self.stale_rows.clear();
        }
        for id in std::mem::take(&mut self.stale_rows) {
            if self.jobs.rows.iter().any(|j| j.id == id) {
                cmds.push(Command::FetchJob(id));
            }
        }
        if std::mem::take(&mut self.stale_detail)
            && let Some(d) = &self.detail
        {
            if !cmds.contains(&Command::FetchJob(d.id.clone())) {
                cmds.push(Command::FetchJob(d.id.clone()));
            }
            cmds.push(Command::FetchEvents(d.id.clone()));
        }
        if std::mem::take(&mut self.stale_status) {
            cmds.push(Command::FetchStatus);
        }
        self.stale_page = false;
        cmds
    }

    pub fn list_params(&self) -> ListParams {
        let limit = (self.table_rows() as u32).clamp(1, genq_protocol::methods::LIST_MAX_LIMIT);
        ListParams {
            state: FILTERS[self.jobs.filter].1.to_vec(),
            text: Some(self.jobs.search.clone()).filter(|s| !s.is_empty()),
            limit: Some(limit),
            sort: self.jobs.sort,
            offset: Some(self.jobs.scroll),
            ..ListParams::default()
        }
    }

    fn fetch_page(&mut self) -> Command {
        self.jobs.generation += 1;
        self.jobs.loading = true;
        Command::FetchPage {
            generation: self.jobs.generation,
            params: self.list_params(),
        }
    }

    /// Keeps the selection on screen; fetches when the window moved past the cached rows.
    fn follow_selection(&mut self) -> Vec<Command> {
        let rows = self.table_rows() as u64;
        let jobs = &mut self.jobs;
        jobs.selected = jobs.selected.min(jobs.total.saturating_sub(1));
        if jobs.selected < jobs.scroll {
            jobs.scroll = jobs.selected;
        } else if jobs.selected >= jobs.scroll + rows {
            jobs.scroll = jobs.selected + 1 - rows;
        }
        let last_needed = (jobs.scroll + rows).min(jobs.total);
        let cached_end = jobs.offset + jobs.rows.len() as u64;
        if jobs.scroll < jobs.offset || last_needed > cached_end {
            vec![self.fetch_page()]
        } else {
            Vec::new()
        }
    }

    pub(crate) fn reset_list(&mut self) -> Vec<Command> {
        self.jobs.scroll = 0;
        self.jobs.selected = 0;
        vec![self.fetch_page()]
    }

    /// The job the job actions apply to: the detail's on the detail screen, else the
    /// selected row.
    pub fn target(&self) -> Option<&Job> {
        match self.screen {
            Screen::Detail => self.detail.as_ref().and_then(|d| d.job.as_ref()),
            _ => self.jobs.selected_job(),
        }
    }

    pub fn update(&mut self, action: Action) -> Vec<Command> {
        match action {
            Action::Ui(ui) => {
                self.info = None;
                self.ui(ui)
            }
            Action::Input(ev) => self.input(ev),
            Action::Paste(text) => self.paste(&text),
            Action::Resize(w, h) => {
                self.size = (w, h);
                let mut cmds = if self.jobs.loaded {
                    self.follow_selection()
                } else {
                    Vec::new()
                };
                if self.screen == Screen::Loras && self.gallery.started {
                    cmds.extend(self.gallery_follow());
                }
                cmds
            }
            Action::Tick => {
                self.spinner.calc_next();
                Vec::new()
            }
            Action::Connected { version } => {
                let again = matches!(self.conn, Connection::Reconnecting { .. });
                self.conn = Connection::Connected { version };
                self.clear_offline_errors();
                if again {
                    self.note("connected to the daemon again");
                }
                let mut cmds = vec![
                    Command::Subscribe {
                        since_seq: self.last_seq,
                    },
                    Command::FetchStatus,
                    self.fetch_page(),
                    Command::FetchCatalog,
                ];
                // Listings cut off by the lost connection are asked again.
                let gallery_stuck =
                    self.gallery.error.is_some() || !self.gallery.loading.is_empty();
                if self.gallery.started && gallery_stuck {
                    cmds.extend(self.gallery_retry());
                }
                if let Some(d) = &self.detail {
                    cmds.push(Command::FetchJob(d.id.clone()));
                    cmds.push(Command::FetchEvents(d.id.clone()));
                }
                cmds
            }
            Action::Disconnected { reason } => {
                self.conn = Connection::Reconnecting {
                    attempt: 0,
                    delay_ms: 0,
                };
                self.info = None;
                self.fail(reason);
                Vec::new()
            }
            Action::Reconnecting { attempt, delay_ms } => {
                self.conn = Connection::Reconnecting { attempt, delay_ms };
                Vec::new()
            }
            Action::Subscribed { head_seq } => match self.last_seq {
                None => {
                    self.last_seq = Some(head_seq);
                    Vec::new()
                }
                // A daemon behind our position has another history (its database was
                // replaced): start over from its head, or its events would look like
                // duplicates.
                Some(last) if head_seq < last => {
                    self.last_seq = Some(head_seq);
                    self.stale_page = true;
                    self.stale_status = true;
                    self.stale_detail = self.detail.is_some();
                    vec![Command::Subscribe {
                        since_seq: Some(head_seq),
                    }]
                }
                Some(_) => Vec::new(),
            },
            Action::PageLoaded {
                generation,
                offset,
                page,
            } => {
                if generation != self.jobs.generation {
                    return Vec::new();
                }
                self.jobs.loading = false;
                self.jobs.loaded = true;
                self.jobs.rows = page.jobs;
                self.jobs.offset = offset;
                self.jobs.total = page.total;
                if self.jobs.selected >= page.total {
                    self.jobs.selected = page.total.saturating_sub(1);
                    return self.follow_selection();
                }
                Vec::new()
            }
            Action::JobLoaded(job) => self.job_loaded(job),
            Action::EventsLoaded { id, events } => {
                if let Some(d) = self.detail.as_mut().filter(|d| d.id == id) {
                    d.events = events;
                }
                Vec::new()
            }
            Action::StatusLoaded(status) => {
                self.status_loaded(status);
                Vec::new()
            }
            Action::ProvidersLoaded(providers) => {
                self.provider_keys = Some(
                    providers
                        .iter()
                        .map(|p| (p.name.clone(), p.has_key))
                        .collect(),
                );
                self.quotas = providers
                    .into_iter()
                    .filter(|p| p.quota_remaining.is_some() || p.quota_detail.is_some())
                    .map(|p| Quota {
                        provider: p.name,
                        remaining: p.quota_remaining,
                        detail: p.quota_detail,
                    })
                    .collect();
                Vec::new()
            }
            Action::Notify(event) => {
                self.event(event);
                Vec::new()
            }
            Action::Resync { last_seq } => {
                self.stale_page = true;
                self.stale_status = true;
                self.stale_detail = self.detail.is_some();
                vec![Command::Subscribe {
                    since_seq: Some(last_seq),
                }]
            }
            Action::Submitted(job) => {
                self.form = SubmitForm::new(self.form.choices.clone());
                self.note(format!("submitted job {}", job.short_id()));
                self.screen = Screen::Jobs;
                self.jobs.selected = 0;
                self.jobs.scroll = 0;
                vec![self.fetch_page(), Command::FetchStatus]
            }
            Action::SubmitFailed(err) => {
                self.form.sending = false;
                match err.field.as_deref().and_then(Field::from_wire) {
                    Some(field) => {
                        self.form.remote_error(field, err.to_string());
                        self.form.focus = field;
                    }
                    None => self.fail(format!("submit failed: {err}")),
                }
                Vec::new()
            }
            Action::RerunLoaded(spec) => {
                let of = self.pending_rerun.take();
                self.form = SubmitForm::from_spec(&spec, of, self.form.choices.clone());
                self.screen = Screen::Submit;
                Vec::new()
            }
            Action::JobChanged { verb, job } => {
                self.note(format!("{verb} job {}", job.short_id()));
                let cmds = self.job_loaded(job);
                self.stale_page = true;
                self.stale_status = true;
                cmds
            }
            Action::Info(msg) => {
                self.note(msg);
                Vec::new()
            }
            Action::CallFailed { what, error } => {
                self.jobs.loading = false;
                self.fail(format!("{what}: {error}"));
                Vec::new()
            }
            Action::PreviewReady(preview) => {
                self.preview_ready(preview);
                Vec::new()
            }
            Action::CatalogLoaded(data) => {
                self.catalog_loaded(*data);
                Vec::new()
            }
            Action::CatalogFailed(error) => {
                // An older daemon without a catalog: the built-in list stays.
                self.fail(format!("loading the model catalog: {error}"));
                Vec::new()
            }
            Action::LorasLoaded {
                generation,
                page,
                covers,
                result,
            } => self.loras_loaded(generation, page, covers, result),
            Action::LorasFailed {
                generation,
                page,
                covers,
                error,
            } => {
                self.loras_failed(generation, page, covers, &error);
                Vec::new()
            }
            Action::CoverReady(cover) => {
                self.cover_loaded(cover);
                Vec::new()
            }
            Action::LoraCardLoaded(card) => {
                self.lora_cards
                    .insert(card.id.clone(), LoraLookup::Found(Box::new(card)));
                Vec::new()
            }
            Action::LoraCardFailed { id, error } => {
                self.lora_cards
                    .insert(id, LoraLookup::Failed(error.to_string()));
                Vec::new()
            }
            Action::Click { col, row } => self.click(col, row),
        }
    }

    fn ui(&mut self, ui: UiAction) -> Vec<Command> {
        use UiAction as A;
        match ui {
            A::ForceQuit | A::Quit => {
                self.quit = true;
                vec![Command::Quit]
            }
            A::Suspend => vec![Command::Suspend],
            A::Help => self.toggle_overlay(Screen::Help),
            A::Messages => self.toggle_overlay(Screen::Messages),
            A::ToggleMouse => {
                self.mouse = !self.mouse;
                self.note(format!("mouse {}", if self.mouse { "on" } else { "off" }));
                vec![Command::SetMouse(self.mouse)]
            }
            A::NextScreen | A::PrevScreen => self.cycle_screen(ui == A::NextScreen),
            A::GotoModels => self.goto(Screen::Models),
            A::GotoLoras => self.goto(Screen::Loras),
            A::GotoJobs => self.goto(Screen::Jobs),
            A::GotoDetail => {
                if self.detail.is_some() {
                    self.goto(Screen::Detail)
                } else {
                    self.open_detail()
                }
            }
            A::GotoSubmit => self.goto(Screen::Submit),
            A::ToggleView => {
                self.models_view.tree = !self.models_view.tree;
                Vec::new()
            }
            A::Refresh => match self.screen {
                Screen::Loras => self.gallery_retry(),
                Screen::Models => vec![Command::FetchCatalog],
                _ => {
                    let mut cmds = self.follow_selection();
                    if cmds.is_empty() {
                        cmds.push(self.fetch_page());
                    }
                    cmds.push(Command::FetchStatus);
                    cmds
                }
            },
            A::NextSource | A::MarkLora => self.gallery_action(ui),
            A::OpenLora => self.open_job_lora(),
            A::NewJob | A::Generate => match self.context() {
                Context::Card => {
                    let card = self.lora_popup.take().map(|p| *p.card);
                    self.generate_with(card.into_iter().collect())
                }
                Context::Loras => self.generate(),
                Context::Models => self.new_job_with_model(),
                _ => self.open_new_form(),
            },
            A::Back => self.back(),
            A::Up | A::Down | A::Top | A::Bottom | A::PageUp | A::PageDown => self.motion(ui),
            A::Open => match self.screen {
                Screen::Loras | Screen::Detail => self.open_lora_card(),
                _ => self.open_detail(),
            },
            A::FilterNext | A::FilterPrev | A::FilterBase => self.filter(ui != A::FilterPrev),
            A::ToggleSort if self.screen == Screen::Loras => self.gallery_action(ui),
            A::ToggleSort => {
                self.jobs.sort = match self.jobs.sort {
                    Sort::Newest => Sort::Oldest,
                    Sort::Oldest => Sort::Newest,
                };
                self.reset_list()
            }
            A::Search | A::SearchApply => self.search_action(ui),
            A::ConfirmYes => match self.confirm.take() {
                Some(c) => vec![Command::Cancel(c.id)],
                None => Vec::new(),
            },
            A::ConfirmNo => {
                self.confirm = None;
                Vec::new()
            }
            A::Copy if self.lora_popup.is_some() => {
                let url = self.lora_popup.as_ref().map(|p| p.card.page_url.clone());
                match url {
                    Some(url) => {
                        self.note(format!("copied {url}"));
                        vec![Command::Copy(url)]
                    }
                    None => Vec::new(),
                }
            }
            A::Cancel | A::Retry | A::Rerun | A::Export | A::Copy | A::OpenOutput => {
                self.job_action(ui)
            }
            A::PickNext | A::PickPrev | A::NextLora => self.pick(ui != A::PickPrev),
            A::FieldNext | A::FieldPrev | A::NormalizeLoras | A::FormSubmit | A::ClearForm => {
                self.form_action(ui)
            }
        }
    }

    /// `f` / `F`: the state filter of the jobs, the base model of the LoRAs.
    fn filter(&mut self, forward: bool) -> Vec<Command> {
        let step = |i: usize, n: usize| {
            if forward {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            }
        };
        if self.screen == Screen::Loras {
            let n = crate::tui::gallery::bases(self.gallery.source).len();
            self.gallery.base = step(self.gallery.base, n);
            return self.gallery_restart();
        }
        self.jobs.filter = step(self.jobs.filter, FILTERS.len());
        self.reset_list()
    }

    /// Left / right: the LoRA card, the supplier, the job's LoRA, the provider or model.
    fn pick(&mut self, forward: bool) -> Vec<Command> {
        let ui = if forward {
            UiAction::PickNext
        } else {
            UiAction::PickPrev
        };
        match self.screen {
            Screen::Loras => self.gallery_motion(ui),
            Screen::Models => {
                self.models_pick(forward);
                Vec::new()
            }
            Screen::Detail => {
                let n = self
                    .detail
                    .as_ref()
                    .and_then(|d| d.job.as_ref())
                    .map_or(0, |j| j.params.loras.len());
                if n > 0 {
                    let at = self.detail_lora % n;
                    self.detail_lora = if forward {
                        (at + 1) % n
                    } else {
                        (at + n - 1) % n
                    };
                }
                Vec::new()
            }
            _ => {
                if self.form.pick(forward) {
                    self.form.recheck();
                }
                Vec::new()
            }
        }
    }

    fn motion(&mut self, ui: UiAction) -> Vec<Command> {
        use UiAction as A;
        let page = self.size.1.saturating_sub(6).max(1);
        let scroll_by = |scroll: &mut u16| {
            *scroll = match ui {
                A::Up => scroll.saturating_sub(1),
                A::Down => scroll.saturating_add(1),
                A::Top => 0,
                A::Bottom => u16::MAX / 2,
                A::PageUp => scroll.saturating_sub(page),
                _ => scroll.saturating_add(page),
            };
        };
        if let Some(popup) = self.lora_popup.as_mut() {
            scroll_by(&mut popup.scroll);
            return Vec::new();
        }
        match self.screen {
            Screen::Jobs => {
                let page = self.table_rows().max(1) as u64;
                let last = self.jobs.total.saturating_sub(1);
                let s = self.jobs.selected;
                self.jobs.selected = match ui {
                    A::Up => s.saturating_sub(1),
                    A::Down => (s + 1).min(last),
                    A::Top => 0,
                    A::Bottom => last,
                    A::PageUp => s.saturating_sub(page),
                    _ => (s + page).min(last),
                };
                self.follow_selection()
            }
            Screen::Help => {
                scroll_by(&mut self.help_scroll);
                Vec::new()
            }
            Screen::Detail => {
                if let Some(d) = self.detail.as_mut() {
                    scroll_by(&mut d.scroll);
                }
                Vec::new()
            }
            Screen::Messages => {
                // The log is scrolled up from its newest line.
                let s = self.messages.scroll;
                self.messages.scroll = match ui {
                    A::Up => s.saturating_add(1),
                    A::Down => s.saturating_sub(1),
                    A::Top => u16::MAX / 2,
                    A::Bottom => 0,
                    A::PageUp => s.saturating_add(page),
                    _ => s.saturating_sub(page),
                };
                Vec::new()
            }
            Screen::Models => {
                self.models_motion(ui);
                Vec::new()
            }
            Screen::Loras => self.gallery_motion(ui),
            Screen::Submit => Vec::new(),
        }
    }

    pub(crate) fn open_detail(&mut self) -> Vec<Command> {
        let Some(job) = self.jobs.selected_job().cloned() else {
            return Vec::new();
        };
        let id = job.id.clone();
        let same = self.detail.as_ref().is_some_and(|d| d.id == id);
        if !same {
            self.detail = Some(DetailView {
                id: id.clone(),
                short_id: job.short_id(),
                job: None,
                events: Vec::new(),
                scroll: 0,
                preview: PreviewState::None,
            });
        }
        self.screen = Screen::Detail;
        let mut cmds = self.job_loaded(job);
        cmds.push(Command::FetchJob(id.clone()));
        cmds.push(Command::FetchEvents(id));
        cmds
    }

    fn job_loaded(&mut self, job: Job) -> Vec<Command> {
        let mut cmds = Vec::new();
        if self.detail.as_ref().is_some_and(|d| d.id == job.id) {
            cmds.extend(self.fetch_job_loras(&job));
        }
        if let Some(row) = self.jobs.rows.iter_mut().find(|j| j.id == job.id) {
            *row = job.clone();
        }
        let previews = self.previews;
        let (cols, rows) = screens::detail::preview_size(self.size);
        if let Some(d) = self.detail.as_mut().filter(|d| d.id == job.id) {
            if previews
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

    fn preview_ready(&mut self, preview: Preview) {
        if let Some(d) = self.detail.as_mut().filter(|d| d.id == preview.id) {
            d.preview = match preview.result {
                Ok(p) => PreviewState::Ready(p),
                Err(e) => PreviewState::Failed(e),
            };
        }
    }

    fn status_loaded(&mut self, status: StatusResult) {
        self.counts = status.jobs;
        if let Some(e) = status.config_error {
            self.fail(format!("config: {e}"));
        }
    }

    /// Applies a live event: small changes in place at once, refetches marked for the
    /// debounced flush. Events at or below the last seen `seq` are duplicates and ignored.
    fn event(&mut self, event: Event) {
        if let Some(last) = self.last_seq {
            if event.seq <= last {
                return;
            }
            if event.seq > last + 1 {
                // Events were lost (the client's buffer overflowed): refetch what is shown.
                self.stale_page = true;
                self.stale_detail = self.detail.is_some();
            }
        }
        self.last_seq = Some(event.seq);
        let id = event.job_id.clone();
        let filtered = self.jobs.filter != 0;
        match &event.body {
            EventBody::Created { .. } => {
                self.stale_page = true;
                self.stale_status = true;
            }
            EventBody::State { to, error, .. } => {
                if let Some(row) = self.jobs.rows.iter_mut().find(|j| j.id == id) {
                    row.state = *to;
                    row.updated_at = event.at;
                    if to.is_final() {
                        row.finished_at = Some(event.at);
                        row.progress = None;
                    }
                    if error.is_some() {
                        row.error = error.clone();
                    }
                    self.stale_rows.insert(id.clone());
                }
                self.stale_status = true;
                self.stale_page |= filtered;
            }
            EventBody::Progress { progress } => {
                if let Some(row) = self.jobs.rows.iter_mut().find(|j| j.id == id) {
                    row.progress = Some(*progress);
                }
            }
            // The row goes at once; the page refills from the daemon.
            EventBody::Removed { .. } => {
                self.jobs.rows.retain(|j| j.id != id);
                self.stale_page = true;
                self.stale_status = true;
            }
            EventBody::Remote { .. }
            | EventBody::Output { .. }
            | EventBody::Upload { .. }
            | EventBody::Note { .. } => {
                if self.jobs.rows.iter().any(|j| j.id == id) {
                    self.stale_rows.insert(id.clone());
                }
            }
        }
        if let Some(d) = self.detail.as_mut().filter(|d| d.id == id) {
            if let (Some(job), EventBody::Progress { progress }) = (d.job.as_mut(), &event.body) {
                job.progress = Some(*progress);
            }
            if let (Some(job), EventBody::State { to, .. }) = (d.job.as_mut(), &event.body) {
                job.state = *to;
            }
            if !matches!(event.body, EventBody::Progress { .. }) {
                self.stale_detail = true;
            }
            if !d.events.iter().any(|e| e.seq == event.seq) {
                d.events.push(event);
            }
        }
    }

    /// Pasted text goes where typed text would; single-line inputs get it on one line.
    fn paste(&mut self, text: &str) -> Vec<Command> {
        let flat = || text.replace(['\r', '\n'], " ");
        if let Some(search) = self.search_input_mut() {
            search.push_str(&flat());
            return self.search_typed();
        }
        if self.screen == Screen::Submit {
            let multiline = self.form.focus_is_multiline();
            let focus = self.form.focus;
            if let Some(area) = self.form.textarea_mut() {
                let text = if multiline {
                    text.replace("\r\n", "\n")
                } else {
                    flat()
                };
                if area.insert_str(text) {
                    self.form.edited(focus);
                }
            }
        }
        Vec::new()
    }

    /// Typed text for the search prompt or the focused form field.
    fn input(&mut self, ev: KeyEvent) -> Vec<Command> {
        if let Some(text) = self.search_input_mut() {
            match ev.code {
                KeyCode::Char(c) if !ev.modifiers.contains(KeyModifiers::CONTROL) => text.push(c),
                KeyCode::Backspace => {
                    text.pop();
                }
                _ => return Vec::new(),
            }
            return self.search_typed();
        }
        if self.screen == Screen::Submit {
            if ev.code == KeyCode::Enter && !self.form.focus_is_multiline() {
                self.form.focus_next(true);
                return Vec::new();
            }
            let focus = self.form.focus;
            if let Some(area) = self.form.textarea_mut()
                && area.input(ev)
            {
                self.form.edited(focus);
            }
        }
        Vec::new()
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

/// Maps a protocol client error into what the UI shows.
pub fn call_error(e: &crate::client::ClientError) -> CallError {
    match e.rpc() {
        Some(rpc) => CallError {
            kind: Some(rpc.kind()),
            message: rpc.message.clone(),
            field: rpc.field().map(str::to_string),
            allowed: rpc.data.as_ref().and_then(|d| d.allowed.clone()),
        },
        None => CallError::local(e.to_string()),
    }
}
