//! The LoRAs screen's state, the gallery: cards fetched a page at a time as the selection nears them,
//! the search, base-model filter and sort sent to `loras.list`, the marks for Selection →
//! Generate, cover thumbnails, and what went wrong in words the user can act on.

use crate::tui::action::CallError;
use crate::tui::screens::search::Search;
use genq_protocol::ErrorKind;
use genq_protocol::catalog::{LoraCard, LoraSort, LoraSource, LorasListParams};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Cards asked of `loras.list` per page.
pub const PAGE_SIZE: u32 = 30;
/// LoRAs one job may carry.
pub const MAX_MARKS: usize = 6;
/// Cover thumbnails kept decoded; older ones are dropped (and re-encoded when seen again).
pub const COVER_CACHE: usize = 120;

/// The base-model filters `b` cycles through on ModelScope (`sub_vision_foundation` values;
/// `None` = all).
pub const BASES: &[Option<&str>] = &[
    None,
    Some("QWEN_IMAGE_2512"),
    Some("QWEN_IMAGE_20_B"),
    Some("QWEN_IMAGE_EDIT_2511"),
    Some("Z_IMAGE_TURBO"),
    Some("Z_IMAGE"),
    Some("KREA_2_TURBO"),
    Some("FLUX2_DEV"),
    Some("SD_XL"),
];

/// Civitai's `baseModels` values `b` cycles through.
pub const CIVITAI_BASES: &[Option<&str>] = &[
    None,
    Some("Qwen"),
    Some("ZImageTurbo"),
    Some("Flux.1 D"),
    Some("Flux.2 D"),
    Some("SDXL 1.0"),
    Some("Illustrious"),
    Some("Pony"),
];

/// Hugging Face base repositories `b` cycles through.
pub const HF_BASES: &[Option<&str>] = &[
    None,
    Some("Qwen/Qwen-Image"),
    Some("Tongyi-MAI/Z-Image-Turbo"),
    Some("black-forest-labs/FLUX.1-dev"),
    Some("black-forest-labs/FLUX.2-dev"),
    Some("stabilityai/stable-diffusion-xl-base-1.0"),
];

/// The base filters of a source.
pub fn bases(source: LoraSource) -> &'static [Option<&'static str>] {
    match source {
        LoraSource::Modelscope => BASES,
        LoraSource::Civitai => CIVITAI_BASES,
        LoraSource::Huggingface => HF_BASES,
    }
}

/// A source's name as people write it.
pub fn source_name(source: LoraSource) -> &'static str {
    match source {
        LoraSource::Modelscope => "ModelScope",
        LoraSource::Civitai => "Civitai",
        LoraSource::Huggingface => "Hugging Face",
    }
}

/// Why the gallery has no (more) cards, as the screen explains it.
#[derive(Clone, Debug, PartialEq)]
pub enum GalleryError {
    /// The catalog site cannot be reached.
    Network(String),
    /// The site refused the key.
    Auth(String),
    /// No answer within the time allowed.
    Timeout(String),
    Other(String),
}

impl GalleryError {
    pub fn from_call(e: &CallError) -> GalleryError {
        let msg = e.to_string();
        match e.kind {
            Some(ErrorKind::Network) => GalleryError::Network(msg),
            Some(ErrorKind::Auth) => GalleryError::Auth(msg),
            Some(ErrorKind::Timeout) => GalleryError::Timeout(msg),
            _ => GalleryError::Other(msg),
        }
    }

    /// The headline and what to do about it, for a listing from `source`.
    pub fn explain(&self, source: LoraSource) -> (&'static str, String) {
        match self {
            GalleryError::Network(m) => (
                "No network: the LoRA catalog cannot be reached.",
                format!("{m}\nPress Ctrl-R to retry."),
            ),
            GalleryError::Auth(m) if source != LoraSource::Modelscope => (
                "The LoRA source refused the request.",
                format!("{m}\nThen press Ctrl-R to retry."),
            ),
            GalleryError::Auth(m) => (
                "The LoRA catalog refused the ModelScope key.",
                format!(
                    "Add the key with genq auth set modelscope (or api_key_env / api_key_cmd \
                     in [providers.modelscope] of config.toml), then press Ctrl-R to retry.\n{m}"
                ),
            ),
            GalleryError::Timeout(m) => (
                "The LoRA catalog did not answer within 10 s.",
                format!("{m}\nPress Ctrl-R to retry."),
            ),
            GalleryError::Other(m) => (
                "The LoRA catalog failed.",
                format!("{m}\nPress Ctrl-R to retry."),
            ),
        }
    }
}

/// A cover thumbnail's state.
pub enum CoverState {
    Loading,
    Ready(ratatui_image::protocol::Protocol),
    /// Dead, missing or undecodable: the placeholder is drawn.
    Missing,
}

#[derive(Default)]
pub struct Gallery {
    /// Fetched pages (1-based), each up to [`PAGE_SIZE`] cards.
    pub pages: BTreeMap<u32, Vec<LoraCard>>,
    /// Pages asked for and not answered yet.
    pub loading: BTreeSet<u32>,
    /// Matching LoRAs at the source, when it says.
    pub total: Option<u64>,
    /// Set when a page came back short: nothing lies past this many cards.
    pub end: Option<u64>,
    /// Selected card (absolute index).
    pub selected: u64,
    /// First grid row on screen.
    pub scroll_row: u64,
    /// The `/` search, sent as the keyword when Enter applies it.
    pub search: Search,
    /// Where the cards come from; `S` cycles it.
    pub source: LoraSource,
    /// Index into the source's [`bases`].
    pub base: usize,
    pub sort: LoraSort,
    /// Tags requests so a reply for an old search, filter or sort is dropped.
    pub generation: u64,
    pub error: Option<GalleryError>,
    /// Cards marked for Selection → Generate, in the order marked.
    pub marked: Vec<LoraCard>,
    pub covers: HashMap<String, CoverState>,
    /// Order covers were decoded in, to drop the oldest.
    pub cover_order: Vec<String>,
    /// A card to select once a page with it arrives (opened from a job).
    pub focus_id: Option<String>,
    /// Whether the gallery has been opened (the first fetch happens then).
    pub started: bool,
}

impl Gallery {
    /// The number of cards the list is known or assumed to have.
    pub fn len(&self) -> u64 {
        let fetched = self
            .pages
            .iter()
            .map(|(p, c)| u64::from(p - 1) * u64::from(PAGE_SIZE) + c.len() as u64)
            .max()
            .unwrap_or(0);
        match (self.end, self.total) {
            (Some(end), _) => end,
            (None, Some(total)) => total.max(fetched),
            (None, None) if self.pages.is_empty() => 0,
            // Unknown: one more page may follow what is fetched.
            (None, None) => fetched + u64::from(PAGE_SIZE),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn card(&self, index: u64) -> Option<&LoraCard> {
        let page = (index / u64::from(PAGE_SIZE)) as u32 + 1;
        let i = (index % u64::from(PAGE_SIZE)) as usize;
        self.pages.get(&page).and_then(|c| c.get(i))
    }

    pub fn selected_card(&self) -> Option<&LoraCard> {
        self.card(self.selected)
    }

    pub fn base_filter(&self) -> Option<&'static str> {
        let bases = bases(self.source);
        bases[self.base.min(bases.len() - 1)]
    }

    pub fn is_marked(&self, id: &str) -> bool {
        self.marked.iter().any(|c| c.id == id)
    }

    pub fn params(&self, page: u32, covers: bool) -> LorasListParams {
        LorasListParams {
            source: self.source,
            keyword: Some(self.search.applied.clone()).filter(|k| !k.is_empty()),
            base: self.base_filter().map(str::to_string),
            sort: self.sort,
            limit: Some(PAGE_SIZE),
            page: Some(page),
            download_covers: covers,
            ..LorasListParams::default()
        }
    }

    /// Forgets the cards (a new search, filter or sort); marks stay.
    pub fn reset(&mut self) {
        self.generation += 1;
        self.pages.clear();
        self.loading.clear();
        self.total = None;
        self.end = None;
        self.selected = 0;
        self.scroll_row = 0;
        self.error = None;
        self.focus_id = None;
    }

    /// Pages holding cards `from..to` that are neither fetched nor in flight.
    pub fn missing_pages(&self, from: u64, to: u64) -> Vec<u32> {
        let to = match self.end.or(self.total) {
            Some(end) => to.min(end),
            None => to,
        };
        if to <= from {
            return if self.pages.is_empty() && self.loading.is_empty() && self.end.is_none() {
                vec![1]
            } else {
                Vec::new()
            };
        }
        let first = (from / u64::from(PAGE_SIZE)) as u32 + 1;
        let last = ((to - 1) / u64::from(PAGE_SIZE)) as u32 + 1;
        (first..=last)
            .filter(|p| !self.pages.contains_key(p) && !self.loading.contains(p))
            .collect()
    }

    /// A page arrived. Returns whether it came back with fewer cards than asked.
    pub fn page_loaded(&mut self, page: u32, cards: Vec<LoraCard>, total: Option<u64>) -> bool {
        self.loading.remove(&page);
        self.error = None;
        let short = (cards.len() as u32) < PAGE_SIZE;
        if short {
            self.end = Some(u64::from(page - 1) * u64::from(PAGE_SIZE) + cards.len() as u64);
        }
        if total.is_some() {
            self.total = total;
        }
        if let Some(id) = &self.focus_id
            && let Some(i) = cards.iter().position(|c| &c.id == id)
        {
            self.selected = u64::from(page - 1) * u64::from(PAGE_SIZE) + i as u64;
            self.focus_id = None;
        }
        self.pages.insert(page, cards);
        short
    }

    /// Covers arrived for a page already shown: take their local paths.
    pub fn covers_loaded(&mut self, page: u32, cards: Vec<LoraCard>) {
        if let Some(shown) = self.pages.get_mut(&page) {
            for c in shown.iter_mut() {
                if let Some(n) = cards.iter().find(|n| n.id == c.id) {
                    c.cover_local.clone_from(&n.cover_local);
                }
            }
        }
    }

    /// Space on a card: mark it, or unmark it. `Err` says why a mark was refused.
    pub fn toggle_mark(&mut self) -> Result<bool, String> {
        let Some(card) = self.selected_card().cloned() else {
            return Err("no card selected".into());
        };
        if let Some(i) = self.marked.iter().position(|c| c.id == card.id) {
            self.marked.remove(i);
            return Ok(false);
        }
        if card.source != LoraSource::Modelscope.as_str() {
            let name = LoraSource::parse(&card.source)
                .map_or(card.source.clone(), |s| source_name(s).to_string());
            return Err(format!(
                "{name} LoRAs are for browsing: jobs take ModelScope LoRAs (S switches the source)"
            ));
        }
        if self.marked.len() >= MAX_MARKS {
            return Err(format!(
                "at most {MAX_MARKS} LoRAs per job; Space on a marked card unmarks it"
            ));
        }
        self.marked.push(card);
        Ok(true)
    }

    /// Records a decoded cover, dropping the oldest past [`COVER_CACHE`].
    pub fn cover_ready(&mut self, id: String, state: CoverState) {
        self.cover_order.retain(|c| c != &id);
        self.cover_order.push(id.clone());
        self.covers.insert(id, state);
        while self.cover_order.len() > COVER_CACHE {
            let old = self.cover_order.remove(0);
            self.covers.remove(&old);
        }
    }
}

/// Whether a card's cover is the placeholder (dead or missing at the source).
pub fn cover_is_dead(card: &LoraCard) -> bool {
    card.cover_url.is_none()
        || card
            .cover_local
            .as_deref()
            .is_some_and(|p| p.ends_with(PLACEHOLDER))
}

/// The file name of the daemon's placeholder for dead covers.
const PLACEHOLDER: &str = "placeholder.png";

/// `1234567` → `1.2M`, for the download counts on cards.
pub fn count(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1_000.0),
        _ => format!("{:.1}M", n as f64 / 1_000_000.0),
    }
}

/// Weights for `n` LoRAs that sum to exactly 1.0 at three decimals.
pub fn even_weights(n: usize) -> Vec<f64> {
    if n == 0 {
        return Vec::new();
    }
    let each = (1000 / n) as f64 / 1000.0;
    let mut w = vec![each; n];
    let rest = (1000 - (1000 / n) * (n - 1)) as f64 / 1000.0;
    w[n - 1] = rest;
    w
}
