//! The LoRA gallery: fetches cards from ModelScope, Civitai or Hugging Face, caches each
//! query in the database for ten minutes, downloads covers with bounded concurrency
//! (anonymously; the source's key only after a 401/403), puts a placeholder in place of a
//! dead cover and tries it again on a later listing, and says which catalog models take each
//! card (ModelScope LoRAs only: the providers take ModelScope repositories).

use super::{civitai, huggingface, modelscope};
use crate::config::CatalogSettings;
use crate::secret::Secret;
use crate::store::{Store, StoreError};
use futures::StreamExt;
use genq_protocol::Timestamp;
use genq_protocol::catalog::{
    LORAS_DEFAULT_LIMIT, LORAS_MAX_LIMIT, LoraCard, LoraPage, LoraSort, LoraSource,
    LorasListParams, Model,
};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// How long a fetched query is served from the database.
pub const TTL: Duration = Duration::from_secs(10 * 60);
/// Covers downloaded at once.
const COVER_CONCURRENCY: usize = 4;
/// Largest cover accepted.
const COVER_MAX_BYTES: usize = 10 * 1024 * 1024;
/// Largest page asked of ModelScope (catalog.md §1.2: stay at or below 50).
const SOURCE_PAGE: u32 = 50;
/// Deepest card reached by following cursors (Civitai, Hugging Face) from the first page.
pub const CURSOR_DEPTH: u64 = 2_000;
pub const PLACEHOLDER: &str = "placeholder.png";

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
        allowed: Option<String>,
    },
    #[error("cannot reach the LoRA catalog at {url}: {message}; check the network and retry")]
    Network { url: String, message: String },
    #[error("the LoRA catalog at {url} did not answer within {secs} s; retry")]
    Timeout { url: String, secs: u64 },
    #[error("the LoRA catalog refused the request ({status}); {hint}")]
    Auth { status: u16, hint: &'static str },
    #[error("the LoRA catalog answered badly: {0}")]
    Source(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a listing needs, from the config in force.
#[derive(Clone)]
pub struct LoraContext {
    pub store: Store,
    /// The sources' sites and the NSFW switch.
    pub sites: CatalogSettings,
    /// Hosts covers may come from besides the built-in ones.
    pub extra_hosts: Vec<String>,
    /// The ModelScope key, used only when a cover answers 401/403.
    pub key: Option<Secret>,
    /// Optional Civitai and Hugging Face keys (`CIVITAI_API_KEY`, `HF_TOKEN`), sent when set.
    pub civitai_key: Option<Secret>,
    pub huggingface_key: Option<Secret>,
    /// The daemon's cache directory (covers go to `images/<safe_task>/` below it).
    pub cache_dir: PathBuf,
    /// How long a fetched query is served from the database ([`TTL`] in the daemon).
    pub ttl: Duration,
}

impl LoraContext {
    /// The key to send to a source's API, when there is one.
    pub(super) fn source_key(&self, source: LoraSource) -> Option<&Secret> {
        match source {
            LoraSource::Modelscope => None,
            LoraSource::Civitai => self.civitai_key.as_ref(),
            LoraSource::Huggingface => self.huggingface_key.as_ref(),
        }
    }
}

/// Adds a source's key to an API request, when there is one.
pub(super) fn with_key(
    req: reqwest::RequestBuilder,
    key: Option<&Secret>,
) -> reqwest::RequestBuilder {
    match key {
        Some(k) => req.bearer_auth(k.expose()),
        None => req,
    }
}

/// Where to set the key a source refused the request without.
fn auth_hint(source: LoraSource) -> &'static str {
    match source {
        LoraSource::Modelscope => {
            "set a ModelScope key (providers.modelscope in config.toml or MODELSCOPE_API_TOKEN)"
        }
        LoraSource::Civitai => "set CIVITAI_API_KEY in the daemon's environment and restart it",
        LoraSource::Huggingface => "set HF_TOKEN in the daemon's environment and restart it",
    }
}

pub(super) fn http() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .user_agent(concat!("genq/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap_or_default()
        })
        .clone()
}

/// Task names become folder and file names: anything but letters, digits, `-` and `_` is
/// replaced by `_`.
pub fn safe_name(task: &str) -> String {
    let s: String = task
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "_".into() } else { s }
}

/// Why a card does not suit a model, if it does not.
pub fn compatible(card: &LoraCard, model: &Model) -> Result<(), String> {
    let (Some(family), Some(takes)) = (card.base_model.as_deref(), model.lora_family.as_deref())
    else {
        return Ok(());
    };
    if family == takes || family == "other" || card.base_repo.as_deref() == Some(model.id.as_str())
    {
        return Ok(());
    }
    Err(format!(
        "LoRA {} is for the {family} family (base {}), but {} takes {takes} LoRAs",
        card.id,
        card.base_model_raw.as_deref().unwrap_or("unknown"),
        model.key
    ))
}

fn map_http(url: &str, e: reqwest::Error) -> CatalogError {
    if e.is_timeout() {
        CatalogError::Timeout {
            url: url.to_string(),
            secs: 20,
        }
    } else {
        CatalogError::Network {
            url: url.to_string(),
            message: e.without_url().to_string(),
        }
    }
}

/// A source's JSON reply, with the headers paging needs.
pub(super) struct SourceReply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: serde_json::Value,
}

pub(super) async fn fetch_json(
    req: reqwest::RequestBuilder,
    url: &str,
) -> Result<(u16, serde_json::Value), CatalogError> {
    fetch_reply(req, url, LoraSource::Modelscope)
        .await
        .map(|r| (r.status, r.body))
}

/// Sends a request to a source: 401/403 is an auth error naming where the key goes, 404 an
/// empty body, any other failure status an error quoting the start of the reply.
pub(super) async fn fetch_reply(
    req: reqwest::RequestBuilder,
    url: &str,
    source: LoraSource,
) -> Result<SourceReply, CatalogError> {
    let resp = req.send().await.map_err(|e| map_http(url, e))?;
    let status = resp.status().as_u16();
    if status == 401 || status == 403 {
        return Err(CatalogError::Auth {
            status,
            hint: auth_hint(source),
        });
    }
    let headers = resp.headers().clone();
    let text = resp.text().await.map_err(|e| map_http(url, e))?;
    if status == 404 {
        return Ok(SourceReply {
            status,
            headers,
            body: serde_json::Value::Null,
        });
    }
    if !(200..300).contains(&status) {
        let short: String = text.chars().take(200).collect();
        return Err(CatalogError::Source(format!(
            "HTTP {status} from {url}: {short}"
        )));
    }
    let body = serde_json::from_str(&text)
        .map_err(|e| CatalogError::Source(format!("{url} sent invalid JSON: {e}")))?;
    Ok(SourceReply {
        status,
        headers,
        body,
    })
}

fn check_params(p: &LorasListParams) -> Result<(u32, u32), CatalogError> {
    let limit = p.limit.unwrap_or(LORAS_DEFAULT_LIMIT);
    if limit == 0 || limit > LORAS_MAX_LIMIT {
        return Err(CatalogError::Invalid {
            field: "limit",
            message: format!("{limit} is out of range"),
            allowed: Some(format!("1 to {LORAS_MAX_LIMIT}")),
        });
    }
    let page = p.page.unwrap_or(1);
    if page == 0 || page > 10_000 {
        return Err(CatalogError::Invalid {
            field: "page",
            message: format!("{page} is out of range"),
            allowed: Some("1 to 10000".into()),
        });
    }
    if p.task.trim().is_empty() || p.task.len() > 100 {
        return Err(CatalogError::Invalid {
            field: "task",
            message: "must be 1 to 100 characters".into(),
            allowed: Some("e.g. text-to-image-synthesis".into()),
        });
    }
    if let Some(base) = &p.base {
        let (fits, allowed): (fn(char) -> bool, &str) = match p.source {
            LoraSource::Modelscope => (
                |c| c.is_ascii_alphanumeric() || c == '_',
                "a ModelScope base, e.g. QWEN_IMAGE_2512, Z_IMAGE_TURBO, FLUX2_DEV",
            ),
            LoraSource::Civitai => (
                |c| c.is_ascii_alphanumeric() || " ._-".contains(c),
                "a Civitai base model, e.g. Flux.1 D, SDXL 1.0, Qwen, ZImageTurbo",
            ),
            LoraSource::Huggingface => (
                |c| c.is_ascii_alphanumeric() || "._-/".contains(c),
                "a Hugging Face base repository, e.g. black-forest-labs/FLUX.1-dev",
            ),
        };
        if base.trim().is_empty() || base.len() > 100 || !base.chars().all(fits) {
            return Err(CatalogError::Invalid {
                field: "base",
                message: format!("{base:?} is not a {} base model value", p.source),
                allowed: Some(allowed.into()),
            });
        }
    }
    if p.source != LoraSource::Modelscope && u64::from(page) * u64::from(limit) > CURSOR_DEPTH {
        return Err(CatalogError::Invalid {
            field: "page",
            message: format!(
                "{} pages are followed by cursor; page {page} of {limit} is past the first {CURSOR_DEPTH} LoRAs",
                p.source
            ),
            allowed: Some(format!(
                "page × limit up to {CURSOR_DEPTH}; narrow the listing with a keyword or base"
            )),
        });
    }
    if let Some(dir) = &p.images_dir
        && !Path::new(dir).is_absolute()
    {
        return Err(CatalogError::Invalid {
            field: "images_dir",
            message: format!("{dir:?} is not an absolute path"),
            allowed: None,
        });
    }
    Ok((limit, page))
}

/// Fetches one page of cards from the source the listing names.
async fn fetch(
    ctx: &LoraContext,
    p: &LorasListParams,
    limit: u32,
    page: u32,
) -> Result<(Vec<LoraCard>, Option<u64>), CatalogError> {
    let skip = u64::from(page - 1) * u64::from(limit);
    let (mut cards, total) = match p.source {
        LoraSource::Modelscope => fetch_modelscope(ctx, p, limit, page).await?,
        LoraSource::Civitai => (civitai::fetch(ctx, p, skip, limit).await?, None),
        LoraSource::Huggingface => (huggingface::fetch(ctx, p, skip, limit).await?, None),
    };
    // The sources are not known to honour every sort key with every filter: re-sort.
    match p.sort {
        LoraSort::Downloads => cards.sort_by_key(|c| std::cmp::Reverse(c.downloads)),
        LoraSort::Newest => cards.sort_by_key(|c| std::cmp::Reverse(c.updated_at.clone())),
    }
    Ok((cards, total))
}

/// One page from ModelScope's dolphin listing.
async fn fetch_modelscope(
    ctx: &LoraContext,
    p: &LorasListParams,
    limit: u32,
    page: u32,
) -> Result<(Vec<LoraCard>, Option<u64>), CatalogError> {
    let url = format!("{}/api/v1/dolphin/models", ctx.sites.modelscope_base_url);
    let size = limit.min(SOURCE_PAGE);
    let skip = u64::from(page - 1) * u64::from(limit);
    let first_page = (skip / u64::from(size)) as u32 + 1;
    let mut drop_first = (skip % u64::from(size)) as usize;
    let mut cards: Vec<LoraCard> = Vec::new();
    let mut total = None;
    // Enough source pages for `limit` cards; stop early when the source runs dry.
    for source_page in first_page..first_page + limit / size + 2 {
        let body = modelscope::listing_body(
            p.sort,
            p.keyword.as_deref().filter(|k| !k.is_empty()),
            p.base.as_deref(),
            source_page,
            size,
        );
        let (_, reply) = fetch_json(http().put(&url).json(&body), &url).await?;
        let listing =
            modelscope::parse_listing(&reply, &ctx.extra_hosts).map_err(CatalogError::Source)?;
        total = total.or(listing.total);
        let raw = listing.raw_count;
        cards.extend(listing.cards.into_iter().skip(drop_first));
        drop_first = 0;
        if cards.len() >= limit as usize || raw < size as usize {
            break;
        }
    }
    cards.truncate(limit as usize);
    Ok((cards, total))
}

/// `owner/name`, or an error naming the field.
pub(super) fn owner_name(id: &str) -> Result<(&str, &str), CatalogError> {
    id.split_once('/')
        .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
        .ok_or_else(|| CatalogError::Invalid {
            field: "id",
            message: format!("{id:?} is not owner/name"),
            allowed: Some("owner/name".into()),
        })
}

/// One card by id, from the source's detail endpoint (cached like listings).
pub async fn detail(
    ctx: &LoraContext,
    source: LoraSource,
    id: &str,
) -> Result<Option<LoraCard>, CatalogError> {
    let card = match source {
        LoraSource::Modelscope => {
            let (owner, name) = owner_name(id)?;
            let url = format!(
                "{}/api/v1/models/{owner}/{name}",
                ctx.sites.modelscope_base_url
            );
            let (status, body) = fetch_json(http().get(&url), &url).await?;
            if status == 404 {
                return Ok(None);
            }
            modelscope::parse_detail(&body, &ctx.extra_hosts).map_err(CatalogError::Source)?
        }
        LoraSource::Civitai => civitai::detail(ctx, id).await?,
        LoraSource::Huggingface => huggingface::detail(ctx, id).await?,
    };
    if let Some(card) = &card {
        ctx.store.update_lora_card(card.clone()).await?;
    }
    Ok(card)
}

/// Lists LoRA cards: from the cache while it is younger than [`TTL`] (unless forced), else
/// from the source. Covers are downloaded when asked.
pub async fn list(ctx: &LoraContext, p: LorasListParams) -> Result<LoraPage, CatalogError> {
    let (limit, page) = check_params(&p)?;
    let key = format!(
        "{}|{}|{}|{}|{:?}|{limit}|{page}|{}",
        p.source,
        p.task,
        p.base.as_deref().unwrap_or(""),
        p.keyword.as_deref().unwrap_or(""),
        p.sort,
        if ctx.sites.nsfw { "nsfw" } else { "sfw" }
    );
    let now = Timestamp::now();
    let cached = ctx.store.cached_loras(key.clone()).await?;
    let fresh = cached.as_ref().filter(|c| {
        !p.force_refresh && now.millis_since(c.fetched_at) < ctx.ttl.as_millis() as i64
    });
    let (mut cards, total, at, from_cache) = match fresh {
        Some(c) => (c.cards.clone(), c.total, c.fetched_at, true),
        None => {
            let (mut cards, total) = fetch(ctx, &p, limit, page).await?;
            // Keep covers already downloaded for cards seen before.
            if let Some(old) = &cached {
                for c in &mut cards {
                    if let Some(o) = old
                        .cards
                        .iter()
                        .find(|o| o.id == c.id && o.cover_url == c.cover_url)
                    {
                        c.cover_local.clone_from(&o.cover_local);
                    }
                }
            }
            ctx.store
                .cache_loras(key, p.source.to_string(), cards.clone(), total, now)
                .await?;
            (cards, total, now, false)
        }
    };
    if p.download_covers {
        let dir = match &p.images_dir {
            Some(d) => PathBuf::from(d),
            None => ctx.cache_dir.join("images").join(safe_name(&p.task)),
        };
        download_covers(ctx, &dir, &mut cards).await?;
    }
    let models = ctx.store.list_models(Default::default()).await?;
    for c in cards
        .iter_mut()
        .filter(|c| c.source == LoraSource::Modelscope.as_str())
    {
        c.compatible_models = models
            .iter()
            .filter(|m| m.active && m.lora_family.is_some() && compatible(c, m).is_ok())
            .filter(|m| {
                c.base_model.as_deref() != Some("other")
                    || c.base_repo.as_deref() == Some(m.id.as_str())
            })
            .map(|m| m.key.clone())
            .collect();
    }
    Ok(LoraPage {
        cached_at: at.to_string(),
        from_cache,
        total,
        cards,
    })
}

fn needs_cover(c: &LoraCard) -> bool {
    match &c.cover_local {
        None => true,
        Some(p) => p.ends_with(PLACEHOLDER) || !Path::new(p).exists(),
    }
}

/// Downloads missing or dead covers into `dir`, at most [`COVER_CONCURRENCY`] at a time.
async fn download_covers(
    ctx: &LoraContext,
    dir: &Path,
    cards: &mut [LoraCard],
) -> Result<(), CatalogError> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| CatalogError::Source(format!("cannot create {}: {e}", dir.display())))?;
    let jobs: Vec<(usize, String, Option<String>, PathBuf)> = cards
        .iter()
        .enumerate()
        .filter(|(_, c)| needs_cover(c))
        .map(|(i, c)| {
            let stem = match c.source.as_str() {
                "modelscope" => safe_name(&c.id),
                other => format!("{other}_{}", safe_name(&c.id)),
            };
            (i, c.source.clone(), c.cover_url.clone(), dir.join(stem))
        })
        .collect();
    let results: Vec<(usize, Result<PathBuf, String>)> = futures::stream::iter(jobs)
        .map(|(i, source, url, path)| async move {
            let r = match url {
                Some(url) => download_one(ctx, &source, &url, &path).await,
                None => Err("the card has no cover".to_string()),
            };
            (i, r)
        })
        .buffer_unordered(COVER_CONCURRENCY)
        .collect()
        .await;
    for (i, r) in results {
        let local = match r {
            Ok(path) => path,
            Err(why) => {
                tracing::info!(lora = %cards[i].id, "cover replaced by the placeholder: {why}");
                placeholder(dir).await?
            }
        };
        cards[i].cover_local = Some(local.display().to_string());
        ctx.store.update_lora_card(strip_compat(&cards[i])).await?;
    }
    Ok(())
}

fn strip_compat(c: &LoraCard) -> LoraCard {
    LoraCard {
        compatible_models: Vec::new(),
        ..c.clone()
    }
}

/// Downloads one cover to `stem` plus the extension of the format it turned out to be.
async fn download_one(
    ctx: &LoraContext,
    source: &str,
    url: &str,
    stem: &Path,
) -> Result<PathBuf, String> {
    if !modelscope::allowed_cover(url, &ctx.extra_hosts) {
        return Err(format!("{url} is not on an allowed cover host"));
    }
    let get = |key: Option<&Secret>| {
        let mut req = http().get(url);
        if let Some(k) = key {
            req = req.bearer_auth(k.expose());
        }
        req.send()
    };
    let key = match LoraSource::parse(source) {
        Some(LoraSource::Modelscope) | None => ctx.key.as_ref(),
        Some(other) => ctx.source_key(other),
    };
    let mut resp = get(None).await.map_err(|e| e.without_url().to_string())?;
    if matches!(resp.status().as_u16(), 401 | 403)
        && let Some(key) = key
    {
        resp = get(Some(key))
            .await
            .map_err(|e| e.without_url().to_string())?;
    }
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status().as_u16()));
    }
    let mut bytes = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| e.without_url().to_string())?;
        bytes.extend_from_slice(&chunk);
        if bytes.len() > COVER_MAX_BYTES {
            return Err(format!("larger than {COVER_MAX_BYTES} bytes"));
        }
    }
    let ext = match image::guess_format(&bytes) {
        Ok(image::ImageFormat::Png) => "png",
        Ok(image::ImageFormat::Jpeg) => "jpg",
        Ok(image::ImageFormat::WebP) => "webp",
        Ok(image::ImageFormat::Gif) => "gif",
        _ => return Err("not a PNG, JPEG, WebP or GIF image".into()),
    };
    let path = stem.with_extension(ext);
    let tmp = stem.with_extension("part");
    tokio::fs::write(&tmp, &bytes)
        .await
        .map_err(|e| e.to_string())?;
    tokio::fs::rename(&tmp, &path)
        .await
        .map_err(|e| e.to_string())?;
    Ok(path)
}

/// The placeholder image in `dir`, written once.
async fn placeholder(dir: &Path) -> Result<PathBuf, CatalogError> {
    let path = dir.join(PLACEHOLDER);
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Ok(path);
    }
    let img = image::RgbImage::from_pixel(64, 64, image::Rgb([128, 128, 128]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|e| CatalogError::Source(format!("cannot draw the placeholder: {e}")))?;
    tokio::fs::write(&path, bytes.into_inner())
        .await
        .map_err(|e| CatalogError::Source(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}
