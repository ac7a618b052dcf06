//! How the LoRAs screen changes: paging cards in as the selection moves, covers for the
//! cards on screen, the source, base filter, sort and search (each starts the listing
//! over), marks, clicks, and the replies of `loras.list`.

use super::draw::{GRID_TOP, cover_size, grid};
use super::gallery::{self, CoverState, Gallery, GalleryError, PAGE_SIZE, bases};
use crate::tui::action::{CallError, UiAction};
use crate::tui::command::Command;
use crate::tui::preview::{Cover, Image};
use crate::tui::screens::scroll::cycle;
use crate::tui::shared::Shared;
use genq_protocol::catalog::{LoraCard, LoraPage, LoraSort, LoraSource};

impl Gallery {
    /// The screen is shown: the first page is fetched the first time.
    pub fn show(&mut self, shared: &Shared) -> Vec<Command> {
        if self.started {
            return Vec::new();
        }
        self.started = true;
        self.restart(shared)
    }

    /// Forgets the cards and fetches the first page again (a new search, filter or sort).
    pub fn restart(&mut self, shared: &Shared) -> Vec<Command> {
        self.reset();
        self.started = true;
        self.follow(shared)
    }

    /// `r`: ask the pages on screen again, ignoring the daemon's cache.
    pub fn retry(&mut self, shared: &Shared) -> Vec<Command> {
        if self.pages.is_empty() {
            return self.restart(shared);
        }
        self.error = None;
        let pages: Vec<u32> = self.pages.keys().copied().collect();
        self.pages.clear();
        self.loading.clear();
        self.generation += 1;
        let mut cmds: Vec<Command> = pages.into_iter().map(|p| self.fetch(p, false)).collect();
        for c in &mut cmds {
            if let Command::FetchLoras { params, .. } = c {
                params.force_refresh = true;
            }
        }
        cmds
    }

    /// The connection is back: listings it cut off are asked again.
    pub fn reconnected(&mut self, shared: &Shared) -> Vec<Command> {
        let stuck = self.error.is_some() || !self.loading.is_empty();
        if self.started && stuck {
            self.retry(shared)
        } else {
            Vec::new()
        }
    }

    fn fetch(&mut self, page: u32, covers: bool) -> Command {
        if !covers {
            self.loading.insert(page);
        }
        Command::FetchLoras {
            generation: self.generation,
            params: self.params(page, covers),
        }
    }

    /// Keeps the selected card on screen, fetches the pages the screen (and the next
    /// screenful) needs, and asks for the visible covers.
    pub fn follow(&mut self, shared: &Shared) -> Vec<Command> {
        let (cols, rows, ..) = grid(shared.size);
        let (cols, rows) = (u64::from(cols), u64::from(rows));
        self.selected = self.selected.min(self.len().saturating_sub(1));
        let row = self.selected / cols;
        if row < self.scroll_row {
            self.scroll_row = row;
        } else if row >= self.scroll_row + rows {
            self.scroll_row = row + 1 - rows;
        }
        let from = self.scroll_row * cols;
        let to = from + 2 * rows * cols;
        if self.error.is_some() {
            return Vec::new();
        }
        let missing = self.missing_pages(from, to);
        let mut cmds: Vec<Command> = missing.into_iter().map(|p| self.fetch(p, false)).collect();
        cmds.extend(self.visible_covers(shared));
        cmds
    }

    /// Cover thumbnails to encode for the cards on screen.
    fn visible_covers(&mut self, shared: &Shared) -> Vec<Command> {
        if !shared.previews {
            return Vec::new();
        }
        let (cols, rows, card_w, _) = grid(shared.size);
        let (cover_cols, cover_rows) = cover_size(card_w);
        let from = self.scroll_row * u64::from(cols);
        let mut cmds = Vec::new();
        for i in from..from + u64::from(cols) * u64::from(rows) {
            let Some(card) = self.card(i) else { continue };
            if self.covers.contains_key(&card.id) || gallery::cover_is_dead(card) {
                continue;
            }
            let Some(path) = card.cover_local.clone() else {
                continue;
            };
            let id = card.id.clone();
            self.covers.insert(id.clone(), CoverState::Loading);
            cmds.push(Command::LoadCover {
                id,
                path,
                cols: cover_cols,
                rows: cover_rows,
            });
        }
        cmds
    }

    /// Arrows and paging move through the grid; left / right by one card.
    pub fn motion(&mut self, ui: UiAction, shared: &Shared) -> Vec<Command> {
        let (cols, rows, ..) = grid(shared.size);
        let (cols, page) = (u64::from(cols), u64::from(cols) * u64::from(rows));
        let last = self.len().saturating_sub(1);
        let s = self.selected;
        self.selected = match ui {
            UiAction::Up => s.saturating_sub(cols),
            UiAction::Down => (s + cols).min(last),
            UiAction::PickPrev => s.saturating_sub(1),
            UiAction::PickNext => (s + 1).min(last),
            UiAction::Top => 0,
            UiAction::Bottom => last,
            UiAction::PageUp => s.saturating_sub(page),
            _ => (s + page).min(last),
        };
        self.follow(shared)
    }

    /// A left click at a terminal cell selects the card there.
    pub fn click(&mut self, col: u16, row: u16, shared: &Shared) -> Vec<Command> {
        let (cols, rows, card_w, card_h) = grid(shared.size);
        let Some(y) = row.checked_sub(GRID_TOP) else {
            return Vec::new();
        };
        let (c, r) = (col / card_w.max(1), y / card_h.max(1));
        if c >= cols || r >= rows {
            return Vec::new();
        }
        let index = (self.scroll_row + u64::from(r)) * u64::from(cols) + u64::from(c);
        if index < self.len() {
            self.selected = index;
        }
        self.follow(shared)
    }

    /// A page of `loras.list`; one for an older listing is dropped.
    pub fn loaded(
        &mut self,
        generation: u64,
        page: u32,
        covers: bool,
        result: LoraPage,
        shared: &mut Shared,
    ) -> Vec<Command> {
        if generation != self.generation {
            return Vec::new();
        }
        if covers {
            self.covers_loaded(page, result.cards);
            return self.visible_covers(shared);
        }
        let n = result.cards.len();
        let wants_covers = shared.previews && result.cards.iter().any(|c| c.cover_local.is_none());
        let short = self.page_loaded(page, result.cards, result.total);
        if short && page == 1 && n > 0 {
            shared.note(format!(
                "fewer results than asked: {n} LoRAs match (asked for {PAGE_SIZE})"
            ));
        }
        let mut cmds = self.follow(shared);
        if wants_covers {
            cmds.push(self.fetch(page, true));
        }
        cmds
    }

    pub fn failed(
        &mut self,
        generation: u64,
        page: u32,
        covers: bool,
        error: &CallError,
        shared: &mut Shared,
    ) {
        if generation != self.generation {
            return;
        }
        if covers {
            // The cards stay; their covers show the placeholder.
            shared.note(format!("covers: {error}"));
            return;
        }
        self.loading.remove(&page);
        self.error = Some(GalleryError::from_call(error));
    }

    pub fn cover_loaded(&mut self, cover: Cover) {
        let state = match cover.result {
            Ok(Image(p)) => CoverState::Ready(p),
            Err(_) => CoverState::Missing,
        };
        self.cover_ready(cover.id, state);
    }

    /// The gallery's own keys: the source, a mark, the sort.
    pub fn action(&mut self, ui: UiAction, shared: &mut Shared) -> Vec<Command> {
        match ui {
            UiAction::NextSource => {
                let all = LoraSource::ALL;
                let at = all.iter().position(|s| *s == self.source);
                self.source = all[at.map_or(0, |i| cycle(i, all.len(), true))];
                self.base = 0;
                self.restart(shared)
            }
            UiAction::MarkLora => {
                match self.toggle_mark() {
                    Ok(marked) => {
                        let n = self.marked.len();
                        shared.note(format!(
                            "{} · {n} of {} marked; n starts a job with them",
                            if marked { "marked" } else { "unmarked" },
                            gallery::MAX_MARKS
                        ));
                    }
                    Err(e) => shared.note(e),
                }
                Vec::new()
            }
            _ => {
                self.sort = match self.sort {
                    LoraSort::Downloads => LoraSort::Newest,
                    LoraSort::Newest => LoraSort::Downloads,
                };
                self.restart(shared)
            }
        }
    }

    /// `f` / `F`: the next or previous base model.
    pub fn cycle_base(&mut self, forward: bool, shared: &Shared) -> Vec<Command> {
        self.base = cycle(self.base, bases(self.source).len(), forward);
        self.restart(shared)
    }

    /// Enter in the prompt: the search goes to the remote site.
    pub fn apply_search(&mut self, shared: &Shared) -> Vec<Command> {
        if !self.search.is_open() {
            return Vec::new();
        }
        self.search.apply_typed();
        self.search.close();
        self.restart(shared)
    }

    /// Esc: closes the prompt, else clears the search. `None` when there was nothing to
    /// close, so Esc goes on to the app.
    pub fn back(&mut self, shared: &Shared) -> Option<Vec<Command>> {
        let changed = self.search.cancel()?;
        Some(if changed {
            self.restart(shared)
        } else {
            Vec::new()
        })
    }

    /// Searches for the LoRA `repo` (one a job used) and selects its card when it arrives.
    pub fn find(&mut self, repo: &str, shared: &Shared) -> Vec<Command> {
        let name = repo.rsplit('/').next().unwrap_or(repo).to_string();
        self.search.set(name);
        self.base = 0;
        let cmds = self.restart(shared);
        self.focus_id = Some(repo.to_string());
        cmds
    }

    /// The cards a new job takes: the marked ones, else the selected one.
    pub fn cards_for_job(&self) -> Vec<LoraCard> {
        if self.marked.is_empty() {
            self.selected_card().cloned().into_iter().collect()
        } else {
            self.marked.clone()
        }
    }
}
