//! ModelScope as a LoRA source (catalog.md §1): the dolphin listing (`PUT
//! /api/v1/dolphin/models`, recipes A/B), the detail (`GET /api/v1/models/{owner}/{name}`),
//! and the lenient parsing of both into normalised cards (§4). Only the card's fields are
//! kept; `AigcAttributes`, README text, weights metadata and the rest are dropped here.

use super::cards::{allowed_cover, family_of, s};
use super::source::{CatalogError, LoraContext, fetch_reply, http, owner_name};
use genq_protocol::Timestamp;
use genq_protocol::catalog::{LoraCard, LoraSort, LoraSource, LorasListParams};
use serde_json::{Value, json};

/// Largest page asked of ModelScope (catalog.md §1.2: stay at or below 50).
const SOURCE_PAGE: u32 = 50;

/// One page from the dolphin listing, and the source's total.
pub async fn fetch(
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
        let body = listing_body(
            p.sort,
            p.keyword.as_deref().filter(|k| !k.is_empty()),
            p.base.as_deref(),
            source_page,
            size,
        );
        let (_, reply) = fetch_json(http().put(&url).json(&body), &url).await?;
        let listing = parse_listing(&reply, &ctx.extra_hosts).map_err(CatalogError::Source)?;
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

/// One card by repository id; `None` when the repository is unknown or not a LoRA.
pub async fn detail(ctx: &LoraContext, id: &str) -> Result<Option<LoraCard>, CatalogError> {
    let (owner, name) = owner_name(id)?;
    let url = format!(
        "{}/api/v1/models/{owner}/{name}",
        ctx.sites.modelscope_base_url
    );
    let (status, body) = fetch_json(http().get(&url), &url).await?;
    if status == 404 {
        return Ok(None);
    }
    parse_detail(&body, &ctx.extra_hosts).map_err(CatalogError::Source)
}

/// A ModelScope reply: its status and JSON body.
async fn fetch_json(
    req: reqwest::RequestBuilder,
    url: &str,
) -> Result<(u16, serde_json::Value), CatalogError> {
    fetch_reply(req, url, LoraSource::Modelscope)
        .await
        .map(|r| (r.status, r.body))
}

/// The dolphin request body for one page.
pub fn listing_body(
    sort: LoraSort,
    keyword: Option<&str>,
    base: Option<&str>,
    page: u32,
    page_size: u32,
) -> Value {
    let mut criterion = Vec::new();
    if let Some(base) = base {
        criterion.push(
            json!({"category":"sub_vision_foundation","predicate":"contains","values":[base]}),
        );
    }
    json!({
        "PageSize": page_size,
        "PageNumber": page,
        "SortBy": match sort { LoraSort::Downloads => "DownloadsCount", LoraSort::Newest => "GmtModified" },
        "Target": "",
        "IsAigc": true,
        "Name": keyword.unwrap_or(""),
        "ImgUrl": "",
        "IsStar": false,
        "SingleCriterion": [
            {"category":"aigc_type","DateType":"string","predicate":"equal","StringValue":"LoRA"},
            {"category":"vision_foundation","DateType":"string","predicate":"equal","StringValue":"all"}
        ],
        "Criterion": criterion,
    })
}

/// A listing reply: the items that are LoRAs as cards, and the source's total.
#[derive(Debug, Default)]
pub struct Listing {
    pub cards: Vec<LoraCard>,
    /// Items on the page before dropping non-LoRAs.
    pub raw_count: usize,
    pub total: Option<u64>,
}

/// Parses a dolphin reply; `Err` says what is wrong with the envelope.
pub fn parse_listing(body: &Value, extra_hosts: &[String]) -> Result<Listing, String> {
    check_envelope(body)?;
    let model = &body["Data"]["Model"];
    let items = model["Models"]
        .as_array()
        .ok_or("the reply has no Data.Model.Models list")?;
    Ok(Listing {
        cards: items
            .iter()
            .filter_map(|i| parse_item(i, extra_hosts))
            .collect(),
        raw_count: items.len(),
        total: model["TotalCount"].as_u64(),
    })
}

/// Parses a detail reply; `Ok(None)` when the repository is unknown or not a LoRA.
pub fn parse_detail(body: &Value, extra_hosts: &[String]) -> Result<Option<LoraCard>, String> {
    if body["Success"] == json!(false) || body["Data"].is_null() || body["Data"] == json!({}) {
        return Ok(None);
    }
    check_envelope(body)?;
    Ok(parse_item(&body["Data"], extra_hosts))
}

fn check_envelope(body: &Value) -> Result<(), String> {
    let code_ok = match &body["Code"] {
        Value::Null => true,
        c => c.as_i64() == Some(200),
    };
    if !code_ok || body["Success"] == json!(false) {
        return Err(format!(
            "ModelScope answered Code {} Success {}: {}",
            body["Code"],
            body["Success"],
            body["Message"].as_str().unwrap_or("no message")
        ));
    }
    Ok(())
}

/// `AigcAttributes` arrives as a JSON string or as an object.
fn aigc_attributes(item: &Value) -> Value {
    match &item["AigcAttributes"] {
        Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        Value::Object(_) => item["AigcAttributes"].clone(),
        _ => Value::Null,
    }
}

fn strip_rev(repo: &str) -> String {
    repo.split('@').next().unwrap_or(repo).trim().to_string()
}

/// `modelscope://Owner/Name?revision=v1` → `Owner/Name`.
fn companion_repo(url: &str) -> Option<String> {
    let rest = url.strip_prefix("modelscope://")?;
    let repo = rest.split('?').next()?.trim();
    (!repo.is_empty()).then(|| repo.to_string())
}

fn cover(item: &Value, extra_hosts: &[String]) -> Option<String> {
    let mut candidates = Vec::new();
    if let Some(first) = item["CoverImages"].as_array().and_then(|a| a.first()) {
        candidates.push(
            s(first)
                .or_else(|| s(&first["url"]))
                .or_else(|| s(&first["Url"])),
        );
    }
    if let Some(versions) = item["MuseInfo"]["versions"].as_array() {
        for v in versions {
            candidates.push(s(&v["coverImages"][0]["url"]));
        }
    }
    candidates.push(s(&item["ModelCover"]));
    candidates.push(s(&item["NEXA"]["ModelCover"]));
    candidates
        .into_iter()
        .flatten()
        .find(|u| allowed_cover(u, extra_hosts))
}

fn rfc3339_from(v: &Value, millis: bool) -> Option<String> {
    let n = v.as_i64().filter(|n| *n > 0)?;
    let ms = if millis { n } else { n.checked_mul(1000)? };
    Some(Timestamp::from_unix_millis(ms).to_string())
}

fn push_unique(out: &mut Vec<String>, v: Option<String>) {
    if let Some(v) = v
        && !out.contains(&v)
    {
        out.push(v);
    }
}

/// One dolphin item or detail `Data` → a card; `None` for anything that is not a LoRA.
pub fn parse_item(item: &Value, extra_hosts: &[String]) -> Option<LoraCard> {
    let aigc_type = s(&item["AigcType"]).or_else(|| s(&item["MuseInfo"]["model"]["modelType"]))?;
    if !aigc_type.eq_ignore_ascii_case("lora") {
        return None;
    }
    let path = s(&item["Path"])?;
    let name = s(&item["Name"])?;
    let attrs = aigc_attributes(item);
    let base_repo = item["BaseModel"]
        .as_array()
        .and_then(|a| a.iter().find_map(s))
        .map(|r| strip_rev(&r))
        .or_else(|| {
            item["MuseInfo"]["versions"].as_array().and_then(|vs| {
                vs.iter().find_map(|v| {
                    s(&v["inferenceCompanionVersionInfo"]["modelUrl"])
                        .and_then(|u| companion_repo(&u))
                })
            })
        });
    let base_raw = s(&attrs["SubVisionFoundation"])
        .or_else(|| s(&item["SubVisionFoundation"]))
        .or_else(|| s(&item["VisionFoundation"]))
        .or_else(|| base_repo.clone());
    let mut trigger_words: Vec<String> = item["TriggerWords"]
        .as_array()
        .map(|a| a.iter().filter_map(s).collect())
        .unwrap_or_default();
    if trigger_words.is_empty()
        && let Some(text) = s(&item["MuseInfo"]["versions"][0]["modelVersion"]["triggerWords"])
        && let Ok(Value::Array(words)) = serde_json::from_str::<Value>(&text)
    {
        trigger_words = words.iter().filter_map(s).collect();
    }
    let mut tags = Vec::new();
    for t in item["OfficialTags"].as_array().into_iter().flatten() {
        push_unique(&mut tags, s(&t["Tag"]));
    }
    for t in attrs["OfficialTags"].as_array().into_iter().flatten() {
        push_unique(&mut tags, s(t));
    }
    for t in item["Tags"].as_array().into_iter().flatten() {
        push_unique(&mut tags, s(t));
    }
    let org = &item["Organization"];
    let author = s(&item["NickName"])
        .or_else(|| {
            (org["Id"].as_i64().unwrap_or(0) != 0)
                .then(|| s(&org["FullName"]))
                .flatten()
        })
        .or_else(|| s(&item["CreatedBy"]))
        .or_else(|| Some(path.clone()));
    Some(LoraCard {
        id: format!("{path}/{name}"),
        source: "modelscope".into(),
        title: name.clone(),
        title_cn: s(&item["ChineseName"]).or_else(|| s(&item["MuseInfo"]["model"]["showName"])),
        author,
        cover_url: cover(item, extra_hosts),
        cover_local: None,
        downloads: item["Downloads"].as_u64(),
        downloads_period: None,
        likes: item["Stars"].as_u64(),
        base_model: base_raw.as_deref().map(|r| family_of(r).to_string()),
        base_model_raw: base_raw,
        base_repo,
        trigger_words,
        tags,
        page_url: format!("https://modelscope.cn/models/{path}/{name}"),
        updated_at: rfc3339_from(&item["LastUpdatedTime"], false)
            .or_else(|| rfc3339_from(&item["MuseInfo"]["model"]["gmtModified"], true))
            .or_else(|| rfc3339_from(&item["CreatedTime"], false)),
        license: s(&item["License"]),
        ..LoraCard::default()
    })
}

#[cfg(test)]
mod tests;
