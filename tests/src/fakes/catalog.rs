//! A fake ModelScope site for the LoRA catalog (catalog.md §1): `PUT
//! /api/v1/dolphin/models` and `GET /api/v1/models/{owner}/{name}`, replaying the reference's
//! example payloads (odd cases included: `AigcAttributes` as a string and as an object, empty
//! `CoverImages`, covers on `resouces.`/`resources.` hosts, `TriggerWords` null, `@rev`
//! suffixes, a non-LoRA item) plus generated LoRAs for paging. Cover hosts are rewritten to
//! `{base}/{host}/…` so the fake serves the covers too; covers can be made dead or
//! token-only.
//!
//! ```text
//! let cat = CatalogFake::start().await;
//! cat.add_generated(60);                 // more LoRAs, downloads 10_000, 9_999, …
//! cat.kill_cover("1a2fa271");            // 404 for covers whose path contains it
//! // config: [catalog.modelscope] base_url = cat.base_url()
//! assert_eq!(cat.listing_count(), 1);
//! ```

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Value, json};

use super::common::{json_reply, lock, make_png};
use super::control::{Core, Endpoint};
use super::server::{Fake, Provider, Served};

const PAGE: &str = include_str!("../../fixtures/catalog/dolphin_page.json");
const DETAIL: &str = include_str!("../../fixtures/catalog/detail.json");
const LISTING_PATH: &str = "/api/v1/dolphin/models";
const DETAIL_PREFIX: &str = "/api/v1/models/";
const HOSTS: &[&str] = &[
    "resouces.modelscope.cn",
    "resources.modelscope.cn",
    "www.modelscope.cn",
];

#[derive(Debug, Default)]
struct Inner {
    items: Vec<Value>,
    dead: Vec<String>,
    token_only: Vec<String>,
}

/// The fake catalog site's state: its control and its items and covers.
#[derive(Debug)]
pub struct CatState {
    core: Core,
    inner: Mutex<Inner>,
}

/// A running fake ModelScope catalog site on loopback; its key (`ms-…`) is the one token-only
/// covers accept.
pub type CatalogFake = Fake<CatState>;

/// Points the reference's cover hosts at the fake.
fn rewrite_hosts(v: &Value, base: &str) -> Value {
    let mut text = v.to_string();
    for h in HOSTS {
        text = text.replace(&format!("https://{h}/"), &format!("{base}/{h}/"));
    }
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

impl Served for CatState {
    const NAME: &'static str = "catalog";
    const URL_TTL: Duration = Duration::from_secs(3600);

    fn new(core: Core) -> Self {
        let page: Value = serde_json::from_str(PAGE).unwrap_or(Value::Null);
        let detail: Value = serde_json::from_str(DETAIL).unwrap_or(Value::Null);
        let base = core.base_url();
        let mut items: Vec<Value> = page["Data"]["Model"]["Models"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        items.push(detail["Data"].clone());
        let items = items.iter().map(|i| rewrite_hosts(i, &base)).collect();
        core.set_key(format!("ms-{}", uuid::Uuid::now_v7()));
        CatState {
            core,
            inner: Mutex::new(Inner {
                items,
                ..Inner::default()
            }),
        }
    }

    fn router() -> Router<Arc<Self>> {
        Router::new()
            .route(LISTING_PATH, put(listing))
            .route("/api/v1/models/{owner}/{name}", get(detail_handler))
            .route("/{host}/{*path}", get(cover))
    }
}

/// A site the LoRA catalog reads: its listings count as [`Endpoint::Submit`], item details
/// as [`Endpoint::Poll`] and covers as [`Endpoint::Download`].
pub trait CatalogSite: Provider {}

impl CatalogSite for CatState {}

impl<P: CatalogSite> Fake<P> {
    /// Listing calls received.
    pub fn listing_count(&self) -> usize {
        self.requests_to(Endpoint::Submit).len()
    }

    /// Cover downloads received.
    pub fn cover_count(&self) -> usize {
        self.requests_to(Endpoint::Download).len()
    }
}

impl CatalogFake {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        lock(&self.state().inner)
    }

    /// Adds `n` Qwen-Image LoRAs `gen/lora-{i}` with falling downloads (10_000 - i), covers
    /// on `resources.modelscope.cn`.
    pub fn add_generated(&self, n: usize) {
        let base = self.base_url();
        let mut inner = self.inner();
        for i in 0..n {
            inner.items.push(json!({
                "Path": "gen", "Name": format!("lora-{i}"), "AigcType": "LoRA",
                "AigcAttributes": "{\"SubVisionFoundation\": \"QWEN_IMAGE_2512\"}",
                "VisionFoundation": "QWEN_IMAGE_20_B", "BaseModel": [format!("Qwen/Qwen-Image-2512@v{i}")],
                "TriggerWords": null, "Downloads": 10_000 - i as u64, "Stars": i,
                "LastUpdatedTime": 1_760_000_000 + i as u64, "CoverImages": [],
                "MuseInfo": {"versions": [{"coverImages": [{"url": format!("{base}/resources.modelscope.cn/cover-images/gen-{i}.png")}]}]}
            }));
        }
    }

    /// Covers whose path contains `needle` answer 404 until [`revive_covers`](Self::revive_covers).
    pub fn kill_cover(&self, needle: &str) {
        self.inner().dead.push(needle.to_string());
    }

    pub fn revive_covers(&self) {
        self.inner().dead.clear();
    }

    /// Covers whose path contains `needle` answer 403 unless the request carries the key.
    pub fn require_token_for_cover(&self, needle: &str) {
        self.inner().token_only.push(needle.to_string());
    }
}

fn sub_vision(item: &Value) -> Option<String> {
    let attrs = match &item["AigcAttributes"] {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        v => v.clone(),
    };
    attrs["SubVisionFoundation"].as_str().map(String::from)
}

async fn listing(State(s): State<Arc<CatState>>, body: axum::body::Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return json_reply(
            StatusCode::BAD_REQUEST,
            &json!({"Code": 400, "Success": false, "Message": "body is not JSON"}),
        );
    };
    let size = body["PageSize"].as_u64().unwrap_or(10).clamp(1, 100) as usize;
    let page = body["PageNumber"].as_u64().unwrap_or(1).max(1) as usize;
    let name = body["Name"].as_str().unwrap_or("").to_lowercase();
    let base: Vec<String> = body["Criterion"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["category"] == "sub_vision_foundation")
        .flat_map(|c| c["values"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    let aigc_type = body["SingleCriterion"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["category"] == "aigc_type")
        .and_then(|c| c["StringValue"].as_str())
        .filter(|t| *t != "all")
        .map(String::from);
    let mut items: Vec<Value> = lock(&s.inner)
        .items
        .iter()
        .filter(|i| aigc_type.as_deref().is_none_or(|t| i["AigcType"] == t))
        .filter(|i| {
            let id = format!(
                "{}/{}",
                i["Path"].as_str().unwrap_or(""),
                i["Name"].as_str().unwrap_or("")
            );
            name.is_empty() || id.to_lowercase().contains(&name)
        })
        .filter(|i| {
            base.is_empty()
                || sub_vision(i).is_some_and(|b| base.contains(&b))
                || i["VisionFoundation"]
                    .as_str()
                    .is_some_and(|b| base.iter().any(|x| x == b))
        })
        .cloned()
        .collect();
    match body["SortBy"].as_str() {
        Some("DownloadsCount") => items.sort_by_key(|i| std::cmp::Reverse(i["Downloads"].as_u64())),
        Some("GmtModified") => {
            items.sort_by_key(|i| std::cmp::Reverse(i["LastUpdatedTime"].as_u64()))
        }
        _ => {}
    }
    let total = items.len();
    let models: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .collect();
    json_reply(
        StatusCode::OK,
        &json!({"Code": 200, "Message": "success", "RequestId": uuid::Uuid::now_v7().to_string(),
                "Success": true,
                "Data": {"Source": "", "Target": "", "FiledAgg": {},
                         "Model": {"Models": models, "TotalCount": total}}}),
    )
}

async fn detail_handler(
    State(s): State<Arc<CatState>>,
    Path((owner, name)): Path<(String, String)>,
) -> Response {
    let found = lock(&s.inner)
        .items
        .iter()
        .find(|i| i["Path"] == owner.as_str() && i["Name"] == name.as_str())
        .cloned();
    match found {
        Some(item) => json_reply(
            StatusCode::OK,
            &json!({"Code": 200, "Success": true, "Data": item}),
        ),
        None => json_reply(
            StatusCode::NOT_FOUND,
            &json!({"Code": 10010205001u64, "Success": false, "Message": "model not found", "Data": {}}),
        ),
    }
}

async fn cover(
    State(s): State<Arc<CatState>>,
    Path((host, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let full = format!("{host}/{path}");
    let (dead, token_only) = {
        let i = lock(&s.inner);
        (
            i.dead.iter().any(|d| full.contains(d.as_str())),
            i.token_only.iter().any(|d| full.contains(d.as_str())),
        )
    };
    let key = s.core.key();
    if !HOSTS.contains(&host.as_str()) || dead {
        return (StatusCode::NOT_FOUND, "no such cover").into_response();
    }
    if token_only {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if auth != format!("Bearer {key}") {
            return (StatusCode::FORBIDDEN, "login required").into_response();
        }
    }
    ([(header::CONTENT_TYPE, "image/png")], make_png(&full)).into_response()
}

impl Provider for CatState {
    fn core(&self) -> &Core {
        &self.core
    }

    /// Listings count as `Submit`, details as `Poll`, covers as `Download`.
    fn classify(&self, method: &Method, path: &str) -> (Endpoint, Option<String>) {
        if path == LISTING_PATH && method == Method::PUT {
            (Endpoint::Submit, None)
        } else if let Some(id) = path.strip_prefix(DETAIL_PREFIX) {
            (Endpoint::Poll, Some(id.to_string()))
        } else if HOSTS.iter().any(|h| path.starts_with(&format!("/{h}/"))) {
            (Endpoint::Download, None)
        } else {
            (Endpoint::Other, None)
        }
    }

    fn rate_limited(&self, _endpoint: Endpoint, _retry_after: Option<u64>) -> Response {
        json_reply(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"Code": 429, "Success": false, "Message": "Request limit exceeded."}),
        )
    }

    fn server_error(&self, _endpoint: Endpoint, status: StatusCode) -> Response {
        json_reply(
            status,
            &json!({"Code": status.as_u16(), "Success": false, "Message": "internal error"}),
        )
    }
}
