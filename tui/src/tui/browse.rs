//! How the catalog screens change the app's state: the models screen's cursor, the LoRA
//! gallery's paging, covers and marks, Selection → Generate, the links from a job to the
//! LoRAs it used, and mouse clicks. Called from [`App::update`] only.

use crate::tui::action::{CallError, UiAction};
use crate::tui::app::{App, LoraLookup, Screen};
use crate::tui::catalog::{CatalogData, Choices};
use crate::tui::command::Command;
use crate::tui::form::{Field, SubmitForm};
use crate::tui::gallery::{self, CoverState, GalleryError, PAGE_SIZE};
use crate::tui::preview::Cover;
use crate::tui::screens;
use genq_protocol::Job;
use genq_protocol::catalog::{LoraCard, LoraPage, LoraSort, LoraSource, Model, Supplier};

impl App {
    pub(crate) fn catalog_loaded(&mut self, data: CatalogData) {
        self.catalog = data;
        self.catalog_loaded = true;
        let choices = Choices::from_catalog(&self.catalog.suppliers, &self.catalog.models)
            .unwrap_or_else(Choices::builtin);
        self.form.set_choices(choices);
        let n = self.catalog_suppliers().len().max(1);
        self.models_view.supplier = self.models_view.supplier.min(n - 1);
        self.models_view.model = 0;
    }

    /// The suppliers the models screen lists: `suppliers.list`, or the models' suppliers
    /// when the daemon sent none.
    pub fn catalog_suppliers(&self) -> Vec<Supplier> {
        if !self.catalog.suppliers.is_empty() {
            return self.catalog.suppliers.clone();
        }
        let mut out: Vec<Supplier> = Vec::new();
        for m in &self.catalog.models {
            if !out.iter().any(|s| s.name == m.supplier) {
                out.push(Supplier {
                    name: m.supplier.clone(),
                    display_name: m.supplier.clone(),
                    base_url: String::new(),
                    docs_url: None,
                    needs_key: false,
                    active: true,
                });
            }
        }
        out
    }

    /// The models of the supplier selected on the models screen (removed ones included).
    pub fn supplier_models(&self) -> Vec<&Model> {
        let suppliers = self.catalog_suppliers();
        let Some(s) = suppliers.get(self.models_view.supplier) else {
            return Vec::new();
        };
        self.catalog
            .models
            .iter()
            .filter(|m| m.supplier == s.name)
            .collect()
    }

    pub fn selected_model(&self) -> Option<&Model> {
        self.supplier_models().get(self.models_view.model).copied()
    }

    pub(crate) fn models_pick(&mut self, forward: bool) {
        let n = self.catalog_suppliers().len().max(1);
        let s = self.models_view.supplier;
        self.models_view.supplier = if forward {
            (s + 1) % n
        } else {
            (s + n - 1) % n
        };
        self.models_view.model = 0;
    }

    pub(crate) fn models_motion(&mut self, ui: UiAction) {
        let last = self.supplier_models().len().saturating_sub(1);
        let m = self.models_view.model;
        self.models_view.model = match ui {
            UiAction::Up => m.saturating_sub(1),
            UiAction::Down => (m + 1).min(last),
            UiAction::Top => 0,
            UiAction::Bottom => last,
            UiAction::PageUp => m.saturating_sub(10),
            _ => (m + 10).min(last),
        };
    }

    /// Opens the submit form with the model selected on the models screen.
    pub(crate) fn new_job_with_model(&mut self) -> Vec<Command> {
        self.drop_abandoned_rerun();
        let key = self.selected_model().map(|m| m.key.clone());
        if let Some((p, m)) = key.and_then(|k| self.form.choices.find_key(&k)) {
            self.form.provider = p;
            self.form.model = m;
            self.form.touched = true;
        }
        self.goto(Screen::Submit)
    }

    /// Forgets the cards and fetches the first page again (a new search, filter or sort).
    pub(crate) fn gallery_restart(&mut self) -> Vec<Command> {
        self.gallery.reset();
        self.gallery.started = true;
        self.gallery_follow()
    }

    /// `r` on the gallery: ask the pages on screen again, ignoring the daemon's cache.
    pub(crate) fn gallery_retry(&mut self) -> Vec<Command> {
        if self.gallery.pages.is_empty() {
            return self.gallery_restart();
        }
        self.gallery.error = None;
        let pages: Vec<u32> = self.gallery.pages.keys().copied().collect();
        self.gallery.pages.clear();
        self.gallery.loading.clear();
        self.gallery.generation += 1;
        let mut cmds: Vec<Command> = pages
            .into_iter()
            .map(|p| self.gallery_fetch(p, false))
            .collect();
        for c in &mut cmds {
            if let Command::FetchLoras { params, .. } = c {
                params.force_refresh = true;
            }
        }
        cmds
    }

    fn gallery_fetch(&mut self, page: u32, covers: bool) -> Command {
        if !covers {
            self.gallery.loading.insert(page);
        }
        Command::FetchLoras {
            generation: self.gallery.generation,
            params: self.gallery.params(page, covers),
        }
    }

    /// Keeps the selected card on screen, fetches the pages the screen (and the next
    /// screenful) needs, and asks for the visible covers.
    pub(crate) fn gallery_follow(&mut self) -> Vec<Command> {
        let (cols, rows, ..) = screens::loras::grid(self.size);
        let (cols, rows) = (u64::from(cols), u64::from(rows));
        let g = &mut self.gallery;
        g.selected = g.selected.min(g.len().saturating_sub(1));
        let row = g.selected / cols;
        if row < g.scroll_row {
            g.scroll_row = row;
        } else if row >= g.scroll_row + rows {
            g.scroll_row = row + 1 - rows;
        }
        let from = g.scroll_row * cols;
        let to = from + 2 * rows * cols;
        if g.error.is_some() {
            return Vec::new();
        }
        let missing = g.missing_pages(from, to);
        let mut cmds: Vec<Command> = missing
            .into_iter()
            .map(|p| self.gallery_fetch(p, false))
            .collect();
        cmds.extend(self.visible_covers());
        cmds
    }

    /// Cover thumbnails to encode for the cards on screen.
    fn visible_covers(&mut self) -> Vec<Command> {
        if !self.previews {
            return Vec::new();
        }
        let (cols, rows, card_w, _) = screens::loras::grid(self.size);
        let (cover_cols, cover_rows) = screens::loras::cover_size(card_w);
        let g = &mut self.gallery;
        let from = g.scroll_row * u64::from(cols);
        let mut cmds = Vec::new();
        for i in from..from + u64::from(cols) * u64::from(rows) {
            let Some(card) = g.card(i) else { continue };
            if g.covers.contains_key(&card.id) || gallery::cover_is_dead(card) {
                continue;
            }
            let Some(path) = card.cover_local.clone() else {
                continue;
            };
            let id = card.id.clone();
            g.covers.insert(id.clone(), CoverState::Loading);
            cmds.push(Command::LoadCover {
                id,
                path,
                cols: cover_cols,
                rows: cover_rows,
            });
        }
        cmds
    }

    pub(crate) fn gallery_motion(&mut self, ui: UiAction) -> Vec<Command> {
        let (cols, rows, ..) = screens::loras::grid(self.size);
        let (cols, page) = (u64::from(cols), u64::from(cols) * u64::from(rows));
        let g = &mut self.gallery;
        let last = g.len().saturating_sub(1);
        let s = g.selected;
        g.selected = match ui {
            UiAction::Up => s.saturating_sub(cols),
            UiAction::Down => (s + cols).min(last),
            UiAction::PickPrev => s.saturating_sub(1),
            UiAction::PickNext => (s + 1).min(last),
            UiAction::Top => 0,
            UiAction::Bottom => last,
            UiAction::PageUp => s.saturating_sub(page),
            _ => (s + page).min(last),
        };
        self.gallery_follow()
    }

    pub(crate) fn loras_loaded(
        &mut self,
        generation: u64,
        page: u32,
        covers: bool,
        result: LoraPage,
    ) -> Vec<Command> {
        if generation != self.gallery.generation {
            return Vec::new();
        }
        if covers {
            self.gallery.covers_loaded(page, result.cards);
            return self.visible_covers();
        }
        let n = result.cards.len();
        let wants_covers = self.previews && result.cards.iter().any(|c| c.cover_local.is_none());
        let short = self.gallery.page_loaded(page, result.cards, result.total);
        if short && page == 1 && n > 0 {
            self.note(format!(
                "fewer results than asked: {n} LoRAs match (asked for {PAGE_SIZE})"
            ));
        }
        let mut cmds = self.gallery_follow();
        if wants_covers {
            cmds.push(self.gallery_fetch(page, true));
        }
        cmds
    }

    pub(crate) fn loras_failed(
        &mut self,
        generation: u64,
        page: u32,
        covers: bool,
        error: &CallError,
    ) {
        if generation != self.gallery.generation {
            return;
        }
        if covers {
            // The cards stay; their covers show the placeholder.
            self.note(format!("covers: {error}"));
            return;
        }
        self.gallery.loading.remove(&page);
        self.gallery.error = Some(GalleryError::from_call(error));
    }

    pub(crate) fn cover_loaded(&mut self, cover: Cover) {
        let state = match cover.result {
            Ok(p) => CoverState::Ready(p),
            Err(_) => CoverState::Missing,
        };
        self.gallery.cover_ready(cover.id, state);
    }

    /// `n` on the gallery: the marked LoRAs (or the selected one) into a new job, on a model that takes
    /// them all, with weights that sum to 1.0.
    pub(crate) fn generate(&mut self) -> Vec<Command> {
        let cards = if self.gallery.marked.is_empty() {
            self.gallery.selected_card().cloned().into_iter().collect()
        } else {
            self.gallery.marked.clone()
        };
        self.generate_with(cards)
    }

    /// A new job with `cards`, on a model that takes them all, weights summing to 1.0.
    pub(crate) fn generate_with(&mut self, cards: Vec<LoraCard>) -> Vec<Command> {
        if cards.is_empty() {
            self.note("no LoRA selected; Space marks up to 6");
            return Vec::new();
        }
        let choices = &self.form.choices;
        let cards_ref = &cards;
        // Models the daemon says take every card, in its order.
        let mut keys: Option<Vec<String>> = None;
        for c in cards.iter().filter(|c| !c.compatible_models.is_empty()) {
            keys = Some(match keys {
                None => c.compatible_models.clone(),
                Some(k) => k
                    .into_iter()
                    .filter(|x| c.compatible_models.contains(x))
                    .collect(),
            });
        }
        let mut candidates: Vec<(usize, usize)> = match keys {
            Some(keys) => keys.iter().filter_map(|k| choices.find_key(k)).collect(),
            // No word from the daemon: match the families.
            None => choices
                .providers
                .iter()
                .enumerate()
                .flat_map(|(p, prov)| {
                    prov.models
                        .iter()
                        .enumerate()
                        .filter_map(move |(m, model)| {
                            let family = model.lora_family.as_deref()?;
                            cards_ref
                                .iter()
                                .all(|c| c.base_model.as_deref().is_none_or(|b| b == family))
                                .then_some((p, m))
                        })
                })
                .collect(),
        };
        // A default model first, then the card's own base repository.
        candidates.sort_by_key(|(p, m)| {
            let model = &choices.providers[*p].models[*m];
            let is_base = cards
                .iter()
                .any(|c| c.base_repo.as_deref() == Some(model.id.as_str()));
            (model.default_for.is_empty(), !is_base)
        });
        let Some(&(p, m)) = candidates.first() else {
            let mut families: Vec<&str> = cards
                .iter()
                .map(|c| c.base_model.as_deref().unwrap_or("unknown"))
                .collect();
            families.dedup();
            self.note(format!(
                "no model takes all of these LoRAs (families: {}); unmark some",
                families.join(", ")
            ));
            return Vec::new();
        };
        let mut form = SubmitForm::new(self.form.choices.clone());
        form.provider = p;
        form.model = m;
        form.touched = true;
        let weights = gallery::even_weights(cards.len());
        let lines: Vec<String> = cards
            .iter()
            .zip(weights)
            .map(|(c, w)| format!("{}:{w}", c.id))
            .collect();
        form.set_text(Field::Loras, &lines.join("\n"));
        let mut triggers: Vec<&str> = cards
            .iter()
            .flat_map(|c| c.trigger_words.iter().map(String::as_str))
            .collect();
        triggers.dedup();
        if !triggers.is_empty() {
            form.set_text(Field::Prompt, &format!("{}, ", triggers.join(", ")));
        }
        form.focus = Field::Prompt;
        self.lora_popup = None;
        self.note(format!(
            "{} LoRA(s) on {} {}",
            cards.len(),
            form.provider_name(),
            form.model_name()
        ));
        self.form = form;
        self.screen = Screen::Submit;
        Vec::new()
    }

    /// `loras.get` for the LoRAs of `job` not looked up yet.
    pub(crate) fn fetch_job_loras(&mut self, job: &Job) -> Vec<Command> {
        let mut cmds = Vec::new();
        for l in &job.params.loras {
            if !self.lora_cards.contains_key(&l.repo) {
                self.lora_cards.insert(l.repo.clone(), LoraLookup::Loading);
                cmds.push(Command::FetchLoraCard(l.repo.clone()));
            }
        }
        cmds
    }

    /// The open job's LoRA that Enter and `L` open.
    pub fn detail_lora_repo(&self) -> Option<&str> {
        let job = self.detail.as_ref()?.job.as_ref()?;
        let n = job.params.loras.len();
        (n > 0).then(|| job.params.loras[self.detail_lora % n].repo.as_str())
    }

    /// `L` on a job: the LoRAs screen, searching for the job's LoRA and focused on its card.
    pub(crate) fn open_job_lora(&mut self) -> Vec<Command> {
        let Some(repo) = self.detail_lora_repo().map(str::to_string) else {
            self.note("this job used no LoRA");
            return Vec::new();
        };
        let name = repo.rsplit('/').next().unwrap_or(&repo).to_string();
        self.gallery.keyword = name;
        self.gallery.base = 0;
        self.gallery.search_input = None;
        let cmds = self.gallery_restart();
        self.gallery.focus_id = Some(repo);
        self.screen = Screen::Loras;
        cmds
    }

    /// A left click: a tab, a job row or a LoRA card.
    pub(crate) fn click(&mut self, col: u16, row: u16) -> Vec<Command> {
        if self.confirm.is_some() || self.lora_popup.is_some() {
            return Vec::new();
        }
        if row == 0 {
            return match screens::tab_at(col, self) {
                Some(Screen::Jobs) => self.goto(Screen::Jobs),
                Some(Screen::Detail) => {
                    self.update(crate::tui::action::Action::Ui(UiAction::GotoDetail))
                }
                Some(s) => self.goto(s),
                None => Vec::new(),
            };
        }
        match self.screen {
            Screen::Jobs => {
                // Tab line, border and table header come before the first row.
                let Some(i) = row.checked_sub(3) else {
                    return Vec::new();
                };
                if usize::from(i) >= self.table_rows() {
                    return Vec::new();
                }
                let index = self.jobs.scroll + u64::from(i);
                if index < self.jobs.total {
                    self.jobs.selected = index;
                }
                Vec::new()
            }
            Screen::Loras => {
                let (cols, rows, card_w, card_h) = screens::loras::grid(self.size);
                let Some(y) = row.checked_sub(screens::loras::GRID_TOP) else {
                    return Vec::new();
                };
                let (c, r) = (col / card_w.max(1), y / card_h.max(1));
                if c >= cols || r >= rows {
                    return Vec::new();
                }
                let index =
                    (self.gallery.scroll_row + u64::from(r)) * u64::from(cols) + u64::from(c);
                if index < self.gallery.len() {
                    self.gallery.selected = index;
                }
                self.gallery_follow()
            }
            _ => Vec::new(),
        }
    }

    /// The gallery's own keys: the source, a mark, the sort.
    pub(crate) fn gallery_action(&mut self, ui: UiAction) -> Vec<Command> {
        match ui {
            UiAction::NextSource => {
                let all = LoraSource::ALL;
                let at = all.iter().position(|s| *s == self.gallery.source);
                self.gallery.source = all[at.map_or(0, |i| (i + 1) % all.len())];
                self.gallery.base = 0;
                self.gallery_restart()
            }
            UiAction::MarkLora => {
                match self.gallery.toggle_mark() {
                    Ok(marked) => {
                        let n = self.gallery.marked.len();
                        self.note(format!(
                            "{} · {n} of {} marked; n starts a job with them",
                            if marked { "marked" } else { "unmarked" },
                            gallery::MAX_MARKS
                        ));
                    }
                    Err(e) => self.note(e),
                }
                Vec::new()
            }
            _ => {
                self.gallery.sort = match self.gallery.sort {
                    LoraSort::Downloads => LoraSort::Newest,
                    LoraSort::Newest => LoraSort::Downloads,
                };
                self.gallery_restart()
            }
        }
    }
}
