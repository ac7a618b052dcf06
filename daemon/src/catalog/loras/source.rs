//! What every LoRA source shares: the listing context, the errors, the HTTP client and
//! reply handling, and the paging loop of the sources that page by cursor.

use crate::config::CatalogSettings;
use crate::secret::Secret;
use crate::store::{Store, StoreError};
use genq_protocol::catalog::{LoraCard, LoraSource};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// How long a fetched query is served from the database.
pub const TTL: Duration = Duration::from_secs(10 * 60);
/// Deepest card reached by following cursors (Civitai, Hugging Face) from the first page.
pub const CURSOR_DEPTH: u64 = 2_000;

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
    pub fn source_key(&self, source: LoraSource) -> Option<&Secret> {
        match source {
            LoraSource::Modelscope => None,
            LoraSource::Civitai => self.civitai_key.as_ref(),
            LoraSource::Huggingface => self.huggingface_key.as_ref(),
        }
    }
}

/// Adds a source's key to an API request, when there is one.
pub fn with_key(req: reqwest::RequestBuilder, key: Option<&Secret>) -> reqwest::RequestBuilder {
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

pub fn http() -> reqwest::Client {
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
pub struct SourceReply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: serde_json::Value,
}

/// Sends a request to a source: 401/403 is an auth error naming where the key goes, 404 an
/// empty body, any other failure status an error quoting the start of the reply.
pub async fn fetch_reply(
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

/// A listing page from a source that may send its key; a 404 means the listing itself is
/// not there.
pub async fn fetch_listing(
    ctx: &LoraContext,
    req: reqwest::RequestBuilder,
    url: &str,
    source: LoraSource,
) -> Result<SourceReply, CatalogError> {
    let reply = fetch_reply(with_key(req, ctx.source_key(source)), url, source).await?;
    if reply.status == 404 {
        return Err(CatalogError::Source(format!("{url} answered 404")));
    }
    Ok(reply)
}

/// One page of a listing paged by cursor.
pub struct Page<C> {
    pub cards: Vec<LoraCard>,
    /// Items the page held before hidden ones were dropped: none means the end.
    pub items: usize,
    /// Where the next page is, when there is one.
    pub next: Option<C>,
}

/// Which cards of a listing are wanted: `skip..skip + limit`.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub skip: u64,
    pub limit: u32,
}

impl Window {
    /// Cards up to the end of the window.
    fn end(self) -> u64 {
        self.skip + u64::from(self.limit)
    }

    /// The `limit` to ask each page for: the whole window, within what a page may hold.
    pub fn page_size(self, max_page: u64) -> String {
        self.end().clamp(1, max_page).to_string()
    }
}

/// The window's cards of a listing paged by cursor, from the first page on.
/// `fetch_page` gets one page of at most `max_page` items: the first for `None`, else the
/// one a cursor names.
pub async fn follow_pages<C, F, Fut>(
    window: Window,
    max_page: u64,
    mut fetch_page: F,
) -> Result<Vec<LoraCard>, CatalogError>
where
    F: FnMut(Option<C>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<C>, CatalogError>>,
{
    let want = window.end();
    let mut cards = Vec::new();
    let mut cursor = None;
    // Hidden items make pages short, so allow twice the requests the depth needs.
    for _ in 0..(CURSOR_DEPTH / max_page + 1) * 2 {
        let page = fetch_page(cursor.take()).await?;
        cards.extend(page.cards);
        match page.next {
            Some(next) if (cards.len() as u64) < want && page.items > 0 => cursor = Some(next),
            _ => break,
        }
    }
    Ok(cards
        .into_iter()
        .skip(window.skip as usize)
        .take(window.limit as usize)
        .collect())
}

/// `owner/name`, or an error naming the field.
pub fn owner_name(id: &str) -> Result<(&str, &str), CatalogError> {
    id.split_once('/')
        .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
        .ok_or_else(|| CatalogError::Invalid {
            field: "id",
            message: format!("{id:?} is not owner/name"),
            allowed: Some("owner/name".into()),
        })
}
