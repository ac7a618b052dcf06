//! Fake Civitai and Hugging Face sites for the LoRA catalog (catalog.md §2–3), replaying the
//! reference's example items plus odd cases (several versions, a checkpoint, an adult model,
//! a video-only preview, a repository without images) and generated LoRAs for paging.
//!
//! Civitai: `GET /api/v1/models` with `types`, `sort`, `limit` (1–100), `query`, `baseModels`,
//! `nsfw` and `cursor` (`page` with `query` is a 400, as on the site), `metadata.nextCursor`;
//! `GET /api/v1/models/{id}`; covers under `/image.civitai.com/…`.
//! Hugging Face: `GET /api/models` with repeated `filter` tags (ANDed), `pipeline_tag`,
//! `search`, `sort` (an unknown key is a 400), `limit`, `full`/`cardData` (without them the
//! reply has the default keys only), paged by a `Link: <…>; rel="next"` header; `GET
//! /api/models/{owner}/{name}`; files under `/{owner}/{name}/resolve/main/…`.
//!
//! ```text
//! let civ = CivitaiFake::start().await;      // [catalog.civitai] base_url = civ.base_url()
//! civ.add_generated(30);
//! civ.ignore_nsfw_param();                    // serve adult items even with nsfw=false
//! let hf = HuggingFaceFake::start().await;    // [catalog.huggingface] base_url = hf.base_url()
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::catalog::CatalogSite;
use super::common::{json_reply, lock, make_png, with_retry_after};
use super::control::{Core, Endpoint};
use super::server::{Fake, Provider, ephemeral};

const CIVITAI_PAGE: &str = include_str!("../../fixtures/catalog/civitai_models.json");
const HF_MODELS: &str = include_str!("../../fixtures/catalog/hf_models.json");
const CIVITAI_IMAGES: &str = "image.civitai.com";

type Pairs = Query<Vec<(String, String)>>;

fn values<'a>(q: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    q.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn value<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    values(q, key).into_iter().next()
}

#[derive(Debug, Default)]
struct SiteInner {
    items: Vec<Value>,
    ignore_nsfw: bool,
}

/// A fake LoRA site's state: its control, which site it plays and its items.
#[derive(Debug)]
pub struct Site {
    core: Core,
    kind: SiteKind,
    inner: Mutex<SiteInner>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SiteKind {
    Civitai,
    HuggingFace,
}

impl CatalogSite for Site {}

/// A running fake Civitai or Hugging Face site on loopback.
pub type LoraSiteFake = Fake<Site>;
pub type CivitaiFake = LoraSiteFake;
pub type HuggingFaceFake = LoraSiteFake;

impl LoraSiteFake {
    async fn start_site(kind: SiteKind) -> Self {
        LoraSiteFake::bind_site(kind, ephemeral())
            .await
            .unwrap_or_else(|e| panic!("fake LoRA site: cannot bind 127.0.0.1: {e}"))
    }

    async fn bind_site(kind: SiteKind, addr: SocketAddr) -> std::io::Result<Self> {
        let router = match kind {
            SiteKind::Civitai => Router::new()
                .route("/api/v1/models", get(civitai_listing))
                .route("/api/v1/models/{id}", get(civitai_detail))
                .route("/image.civitai.com/{*path}", get(image)),
            SiteKind::HuggingFace => Router::new()
                .route("/api/models", get(hf_listing))
                .route("/api/models/{owner}/{name}", get(hf_detail))
                .route("/{owner}/{name}/resolve/main/{*path}", get(hf_file)),
        };
        let new = |core: Core| {
            let items = seed_items(kind, &core.base_url());
            Site {
                core,
                kind,
                inner: Mutex::new(SiteInner {
                    items,
                    ..SiteInner::default()
                }),
            }
        };
        Fake::serve(addr, Duration::from_secs(3600), new, router).await
    }

    /// A fake Civitai on an ephemeral loopback port.
    pub async fn start_civitai() -> Self {
        LoraSiteFake::start_site(SiteKind::Civitai).await
    }

    /// A fake Hugging Face Hub on an ephemeral loopback port.
    pub async fn start_huggingface() -> Self {
        LoraSiteFake::start_site(SiteKind::HuggingFace).await
    }

    /// A fake Civitai on `addr` (port 0 = ephemeral).
    pub async fn bind_civitai(addr: SocketAddr) -> std::io::Result<Self> {
        LoraSiteFake::bind_site(SiteKind::Civitai, addr).await
    }

    /// A fake Hugging Face Hub on `addr` (port 0 = ephemeral).
    pub async fn bind_huggingface(addr: SocketAddr) -> std::io::Result<Self> {
        LoraSiteFake::bind_site(SiteKind::HuggingFace, addr).await
    }

    /// Adds `n` LoRAs with falling downloads (5_000 - i): Civitai `Gen LoRA {i}` (ids
    /// 10_000 + i, version 20_000 + i, base `Qwen`), Hugging Face `gen/lora-{i}` (adapter of
    /// `Qwen/Qwen-Image`), each with a cover.
    pub fn add_generated(&self, n: usize) {
        let base = self.base_url();
        let kind = self.state().kind;
        let mut inner = lock(&self.state().inner);
        for i in 0..n {
            let downloads = 5_000 - i as u64;
            inner.items.push(match kind {
                SiteKind::Civitai => json!({
                    "id": 10_000 + i, "name": format!("Gen LoRA {i}"), "type": "LORA",
                    "nsfw": false, "nsfwLevel": 1, "creator": {"username": "gen"}, "tags": ["gen"],
                    "stats": {"downloadCount": downloads, "thumbsUpCount": i},
                    "modelVersions": [{"id": 20_000 + i, "name": "v1", "baseModel": "Qwen",
                        "publishedAt": format!("2025-10-{:02}T00:00:00.000Z", 1 + i % 28),
                        "trainedWords": [], "files": [],
                        "images": [{"id": 30_000 + i, "type": "image", "nsfwLevel": 1,
                            "url": format!("{base}/{CIVITAI_IMAGES}/gen/original=true/{i}.jpeg")}]}]
                }),
                SiteKind::HuggingFace => json!({
                    "_id": format!("gen{i}"), "id": format!("gen/lora-{i}"), "modelId": format!("gen/lora-{i}"),
                    "createdAt": format!("2025-10-{:02}T00:00:00.000Z", 1 + i % 28),
                    "lastModified": format!("2025-11-{:02}T00:00:00.000Z", 1 + i % 28),
                    "private": false, "downloads": downloads, "likes": i,
                    "pipeline_tag": "text-to-image",
                    "tags": ["lora", "text-to-image", "base_model:Qwen/Qwen-Image", "base_model:adapter:Qwen/Qwen-Image"],
                    "cardData": {"base_model": "Qwen/Qwen-Image", "widget": [{"output": {"url": "cover.png"}}]},
                    "siblings": [{"rfilename": "cover.png"}, {"rfilename": "lora.safetensors"}]
                }),
            });
        }
    }

    /// Serves adult items whatever the `nsfw` parameter says (as some regions do), so the
    /// client's own filter is what hides them.
    pub fn ignore_nsfw_param(&self) {
        lock(&self.state().inner).ignore_nsfw = true;
    }
}

/// The reference's example items, their cover URLs pointing at the fake at `base`.
fn seed_items(kind: SiteKind, base: &str) -> Vec<Value> {
    match kind {
        SiteKind::Civitai => {
            let text = CIVITAI_PAGE.replace(
                &format!("https://{CIVITAI_IMAGES}/"),
                &format!("{base}/{CIVITAI_IMAGES}/"),
            );
            let page: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            page["items"].as_array().cloned().unwrap_or_default()
        }
        SiteKind::HuggingFace => serde_json::from_str(HF_MODELS).unwrap_or_default(),
    }
}

fn bad_request(message: &str) -> Response {
    json_reply(StatusCode::BAD_REQUEST, &json!({"error": message}))
}

fn downloads(item: &Value) -> u64 {
    item["stats"]["downloadCount"]
        .as_u64()
        .or_else(|| item["downloads"].as_u64())
        .unwrap_or(0)
}

async fn civitai_listing(State(s): State<Arc<Site>>, Query(q): Pairs) -> Response {
    let limit: usize = match value(&q, "limit").map(str::parse) {
        None => 100,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return bad_request("limit must be between 1 and 100"),
    };
    let query = value(&q, "query").map(str::to_lowercase);
    if query.is_some() && value(&q, "page").is_some() {
        return bad_request(
            "Cannot use page param with query search. Use cursor-based pagination.",
        );
    }
    let types: Vec<String> = values(&q, "types")
        .iter()
        .flat_map(|t| t.split(','))
        .map(str::to_lowercase)
        .collect();
    let bases: Vec<&str> = values(&q, "baseModels");
    let nsfw = value(&q, "nsfw") == Some("true");
    let (mut items, ignore_nsfw) = {
        let inner = lock(&s.inner);
        (inner.items.clone(), inner.ignore_nsfw)
    };
    items.retain(|i| {
        let kind = i["type"].as_str().unwrap_or("").to_lowercase();
        (types.is_empty() || types.contains(&kind))
            && query.as_deref().is_none_or(|w| {
                i["name"]
                    .as_str()
                    .is_some_and(|n| n.to_lowercase().contains(w))
            })
            && (bases.is_empty()
                || i["modelVersions"].as_array().is_some_and(|vs| {
                    vs.iter()
                        .any(|v| bases.contains(&v["baseModel"].as_str().unwrap_or("")))
                }))
            && (nsfw || ignore_nsfw || i["nsfw"] != json!(true))
    });
    match value(&q, "sort") {
        Some("Most Downloaded") => items.sort_by_key(|i| std::cmp::Reverse(downloads(i))),
        Some("Newest") => items.sort_by_key(|i| {
            std::cmp::Reverse(
                i["modelVersions"][0]["publishedAt"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        }),
        _ => {}
    }
    // Cursors name the last item served, `downloads|id`, as Civitai's do.
    let start = match value(&q, "cursor") {
        None => 0,
        Some(c) => match c
            .rsplit('|')
            .next()
            .and_then(|id| id.parse::<u64>().ok())
            .and_then(|id| items.iter().position(|i| i["id"].as_u64() == Some(id)))
        {
            Some(pos) => pos + 1,
            None => return bad_request("invalid cursor"),
        },
    };
    let page: Vec<Value> = items.iter().skip(start).take(limit).cloned().collect();
    let mut metadata = json!({});
    if start + limit < items.len()
        && let Some(last) = page.last()
    {
        let cursor = format!("{}|{}", downloads(last), last["id"]);
        metadata["nextCursor"] = json!(cursor);
        metadata["nextPage"] = json!(format!(
            "{}/api/v1/models?limit={limit}&cursor={}",
            s.core.base_url(),
            cursor.replace('|', "%7C")
        ));
    }
    json_reply(
        StatusCode::OK,
        &json!({"items": page, "metadata": metadata}),
    )
}

async fn civitai_detail(State(s): State<Arc<Site>>, Path(id): Path<String>) -> Response {
    let found = id.parse::<u64>().ok().and_then(|id| {
        lock(&s.inner)
            .items
            .iter()
            .find(|i| i["id"].as_u64() == Some(id))
            .cloned()
    });
    match found {
        Some(item) => json_reply(StatusCode::OK, &item),
        None => json_reply(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("No model with id {id}")}),
        ),
    }
}

async fn image(Path(path): Path<String>) -> Response {
    ([(header::CONTENT_TYPE, "image/jpeg")], make_png(&path)).into_response()
}

/// The keys the Hub sends without `full` / `cardData` (catalog.md §3).
const HF_DEFAULT_KEYS: &[&str] = &[
    "_id",
    "id",
    "likes",
    "trendingScore",
    "private",
    "downloads",
    "tags",
    "pipeline_tag",
    "library_name",
    "createdAt",
    "modelId",
];

async fn hf_listing(State(s): State<Arc<Site>>, Query(q): Pairs) -> Response {
    let sort = value(&q, "sort").unwrap_or("trendingScore");
    let sort_key = match sort {
        "trendingScore" | "likes" | "downloads" | "createdAt" | "lastModified" => sort,
        _ => return bad_request("✖ Invalid sort parameter"),
    };
    let limit: usize = value(&q, "limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(1000)
        .clamp(1, 1000);
    let filters = values(&q, "filter");
    let search = value(&q, "search").map(str::to_lowercase);
    let pipeline = value(&q, "pipeline_tag");
    let full = value(&q, "full") == Some("true");
    let card_data = full || value(&q, "cardData") == Some("true");
    let mut items: Vec<Value> = lock(&s.inner).items.clone();
    items.retain(|i| {
        let tags: Vec<&str> = i["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        filters.iter().all(|f| tags.contains(f))
            && pipeline.is_none_or(|p| i["pipeline_tag"] == p)
            && search.as_deref().is_none_or(|w| {
                i["id"]
                    .as_str()
                    .is_some_and(|id| id.to_lowercase().contains(w))
            })
    });
    if sort_key == "downloads" || sort_key == "likes" {
        items.sort_by_key(|i| std::cmp::Reverse(i[sort_key].as_u64().unwrap_or(0)));
    } else {
        items.sort_by_key(|i| {
            std::cmp::Reverse(
                i[sort_key]
                    .as_str()
                    .or_else(|| i["createdAt"].as_str())
                    .unwrap_or("")
                    .to_string(),
            )
        });
    }
    let start: usize = value(&q, "cursor")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = items
        .iter()
        .skip(start)
        .take(limit)
        .map(|i| {
            let mut out = serde_json::Map::new();
            for (k, v) in i.as_object().into_iter().flatten() {
                let shown = HF_DEFAULT_KEYS.contains(&k.as_str())
                    || (k == "cardData" && card_data)
                    || (full && (k == "siblings" || k == "lastModified" || k == "sha"))
                    || (k == "lastModified" && sort_key == "lastModified");
                if shown {
                    out.insert(k.clone(), v.clone());
                }
            }
            Value::Object(out)
        })
        .collect();
    let mut resp = json_reply(StatusCode::OK, &Value::Array(page));
    if start + limit < items.len() {
        let mut next: Vec<(String, String)> =
            q.iter().filter(|(k, _)| k != "cursor").cloned().collect();
        next.push(("cursor".into(), (start + limit).to_string()));
        let query = serde_urlencoded::to_string(&next).unwrap_or_default();
        let link = format!("<{}/api/models?{query}>; rel=\"next\"", s.core.base_url());
        if let Ok(v) = header::HeaderValue::from_str(&link) {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    resp
}

async fn hf_detail(
    State(s): State<Arc<Site>>,
    Path((owner, name)): Path<(String, String)>,
) -> Response {
    let id = format!("{owner}/{name}");
    let found = lock(&s.inner)
        .items
        .iter()
        .find(|i| i["id"] == id.as_str())
        .cloned();
    match found {
        Some(item) => json_reply(StatusCode::OK, &item),
        None => json_reply(
            StatusCode::NOT_FOUND,
            &json!({"error": "Repository not found"}),
        ),
    }
}

async fn hf_file(
    State(s): State<Arc<Site>>,
    Path((owner, name, path)): Path<(String, String, String)>,
) -> Response {
    let id = format!("{owner}/{name}");
    let exists = lock(&s.inner).items.iter().any(|i| {
        i["id"] == id.as_str()
            && i["siblings"]
                .as_array()
                .is_some_and(|files| files.iter().any(|f| f["rfilename"] == path.as_str()))
    });
    if !exists {
        return (StatusCode::NOT_FOUND, "Entry not found").into_response();
    }
    ([(header::CONTENT_TYPE, "image/png")], make_png(&path)).into_response()
}

impl Provider for Site {
    fn core(&self) -> &Core {
        &self.core
    }

    /// Listings count as `Submit`, details as `Poll`, covers as `Download`.
    fn classify(&self, method: &Method, path: &str) -> (Endpoint, Option<String>) {
        if method != Method::GET {
            return (Endpoint::Other, None);
        }
        let (listing, detail) = match self.kind {
            SiteKind::Civitai => ("/api/v1/models", "/api/v1/models/"),
            SiteKind::HuggingFace => ("/api/models", "/api/models/"),
        };
        if path == listing {
            (Endpoint::Submit, None)
        } else if let Some(id) = path.strip_prefix(detail) {
            (Endpoint::Poll, Some(id.to_string()))
        } else {
            (Endpoint::Download, None)
        }
    }

    fn rate_limited(&self, _endpoint: Endpoint, retry_after: Option<u64>) -> Response {
        let reply = json_reply(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"error": "Too many requests"}),
        );
        with_retry_after(reply, retry_after)
    }

    fn server_error(&self, _endpoint: Endpoint, status: StatusCode) -> Response {
        json_reply(status, &json!({"error": "Internal server error"}))
    }
}
