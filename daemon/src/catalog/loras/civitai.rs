//! Civitai as a LoRA source (catalog.md §2): `GET /api/v1/models?types=LORA…` followed by
//! cursor (`metadata.nextCursor`), since `page` stops at 1,000 results and is refused with
//! `query`; the detail `GET /api/v1/models/{id}`. One card per model, from its first version
//! (or the version the card id names), with id `model@version` as in Civitai's AIR.
//! Descriptions, files, hashes and download URLs are dropped here.

use super::cards::{allowed_cover, family_of, s};
use super::source::{
    CatalogError, LoraContext, Page, Window, fetch_listing, fetch_reply, follow_pages, http,
    with_key,
};
use genq_protocol::Timestamp;
use genq_protocol::catalog::{LoraCard, LoraSort, LoraSource, LorasListParams};
use serde_json::Value;

/// The largest `limit` Civitai accepts.
const MAX_PAGE: u64 = 100;
/// `nsfwLevel` bits shown without `[catalog] nsfw`: PG (1) and PG-13 (2).
const SAFE_LEVELS: u64 = 1 | 2;
/// Model types that are LoRAs in Civitai's vocabulary.
const LORA_TYPES: &[&str] = &["lora", "locon", "dora"];

/// One listing reply: the cards shown, how many items it held, and the next cursor.
#[derive(Debug, Default)]
pub struct Listing {
    pub cards: Vec<LoraCard>,
    pub raw_count: usize,
    pub next_cursor: Option<String>,
}

/// The window's cards of the listing, following cursors from the first page.
pub async fn fetch(
    ctx: &LoraContext,
    p: &LorasListParams,
    window: Window,
) -> Result<Vec<LoraCard>, CatalogError> {
    let url = format!("{}/api/v1/models", ctx.sites.civitai_base_url);
    let sort = match p.sort {
        LoraSort::Downloads => "Most Downloaded",
        LoraSort::Newest => "Newest",
    };
    let mut query: Vec<(&str, String)> = vec![
        ("types", "LORA".into()),
        ("sort", sort.into()),
        ("limit", window.page_size(MAX_PAGE)),
        ("nsfw", ctx.sites.nsfw.to_string()),
    ];
    if let Some(k) = p.keyword.as_deref().filter(|k| !k.is_empty()) {
        query.push(("query", k.into()));
    }
    if let Some(b) = &p.base {
        query.push(("baseModels", b.clone()));
    }
    let (url, query) = (&url, &query);
    follow_pages(window, MAX_PAGE, |cursor: Option<String>| async move {
        let mut req = http().get(url).query(query);
        if let Some(c) = cursor {
            req = req.query(&[("cursor", c)]);
        }
        let reply = fetch_listing(ctx, req, url, LoraSource::Civitai).await?;
        let listing = parse_listing(&reply.body, &ctx.extra_hosts, ctx.sites.nsfw)
            .map_err(CatalogError::Source)?;
        Ok(Page {
            cards: listing.cards,
            items: listing.raw_count,
            next: listing.next_cursor,
        })
    })
    .await
}

/// One card by id (`model@version`, or a bare model id for its first version).
pub async fn detail(ctx: &LoraContext, id: &str) -> Result<Option<LoraCard>, CatalogError> {
    let (model, version) = parse_id(id)?;
    let url = format!("{}/api/v1/models/{model}", ctx.sites.civitai_base_url);
    let req = with_key(http().get(&url), ctx.source_key(LoraSource::Civitai));
    let reply = fetch_reply(req, &url, LoraSource::Civitai).await?;
    if reply.status == 404 {
        return Ok(None);
    }
    if !reply.body.is_object() {
        return Err(CatalogError::Source(format!(
            "{url} did not send a model object"
        )));
    }
    Ok(parse_item(
        &reply.body,
        &ctx.extra_hosts,
        ctx.sites.nsfw,
        version,
    ))
}

fn parse_id(id: &str) -> Result<(u64, Option<u64>), CatalogError> {
    let invalid = || CatalogError::Invalid {
        field: "id",
        message: format!("{id:?} is not a Civitai card id"),
        allowed: Some("MODEL@VERSION or MODEL, e.g. 631986@706528".into()),
    };
    let (model, version) = match id.split_once('@') {
        Some((m, v)) => (m, Some(v)),
        None => (id, None),
    };
    let model = model.parse().map_err(|_| invalid())?;
    let version = version
        .map(|v| v.parse().map_err(|_| invalid()))
        .transpose()?;
    Ok((model, version))
}

/// Parses a listing reply; `Err` says what is wrong with it.
pub fn parse_listing(body: &Value, extra_hosts: &[String], nsfw: bool) -> Result<Listing, String> {
    let items = body["items"]
        .as_array()
        .ok_or("the Civitai reply has no items list")?;
    Ok(Listing {
        cards: items
            .iter()
            .filter_map(|i| parse_item(i, extra_hosts, nsfw, None))
            .collect(),
        raw_count: items.len(),
        next_cursor: match &body["metadata"]["nextCursor"] {
            Value::String(c) if !c.is_empty() => Some(c.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        },
    })
}

/// Whether an `nsfwLevel` has a bit above PG-13.
fn adult(level: &Value) -> bool {
    level.as_u64().is_some_and(|l| l & !SAFE_LEVELS != 0)
}

/// One model → a card from `version` (its first when `None`); `None` for anything that is
/// not a LoRA, has no such version, or is adult while `nsfw` is off.
pub fn parse_item(
    item: &Value,
    extra_hosts: &[String],
    nsfw: bool,
    version: Option<u64>,
) -> Option<LoraCard> {
    let id = item["id"].as_u64()?;
    let kind = s(&item["type"])?.to_ascii_lowercase();
    if !LORA_TYPES.contains(&kind.as_str()) {
        return None;
    }
    let versions = item["modelVersions"].as_array()?;
    let v = match version {
        Some(want) => versions.iter().find(|v| v["id"].as_u64() == Some(want))?,
        None => versions.first()?,
    };
    let marked = item["nsfw"].as_bool() == Some(true) || adult(&item["nsfwLevel"]);
    if marked && !nsfw {
        return None;
    }
    let name = s(&item["name"])?;
    let title = match s(&v["name"]) {
        Some(vn) if versions.len() > 1 => format!("{name} ({vn})"),
        _ => name,
    };
    let cover = v["images"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["type"].as_str().is_none_or(|t| t == "image"))
        .filter(|i| nsfw || !adult(&i["nsfwLevel"]))
        .filter_map(|i| s(&i["url"]))
        .find(|u| allowed_cover(u, extra_hosts));
    let base_raw = s(&v["baseModel"]);
    Some(LoraCard {
        id: format!("{id}@{}", v["id"].as_u64()?),
        source: LoraSource::Civitai.to_string(),
        title,
        author: s(&item["creator"]["username"]),
        cover_url: cover,
        downloads: item["stats"]["downloadCount"].as_u64(),
        likes: item["stats"]["thumbsUpCount"].as_u64(),
        base_model: base_raw.as_deref().map(|r| family_of(r).to_string()),
        base_model_raw: base_raw,
        trigger_words: v["trainedWords"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(s)
            .collect(),
        tags: item["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(s)
            .collect(),
        page_url: format!("https://civitai.com/models/{id}"),
        updated_at: s(&v["publishedAt"])
            .and_then(|t| Timestamp::parse_rfc3339(&t))
            .map(|t| t.to_string()),
        nsfw: marked,
        ..LoraCard::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = include_str!("../../../../tests/fixtures/catalog/civitai_models.json");

    fn page(nsfw: bool) -> Listing {
        parse_listing(&serde_json::from_str(PAGE).unwrap(), &[], nsfw).unwrap()
    }

    #[test]
    fn the_reference_item_becomes_a_card() {
        let l = page(false);
        let c = &l.cards[0];
        assert_eq!(c.id, "631986@706528");
        assert_eq!(c.source, "civitai");
        assert_eq!(c.title, "XLabs Flux Realism LoRA");
        assert_eq!(c.author.as_deref(), Some("xlabs_ai"));
        assert_eq!(
            c.cover_url.as_deref(),
            Some(
                "https://image.civitai.com/xG1nkqKTMzGDvpLrqFT7WA/1c65dc07-2e32-4e76-a0b7-458c450ff1ae/original=true/24412345.jpeg"
            )
        );
        assert_eq!(c.downloads, Some(184233));
        assert_eq!(c.likes, Some(9120));
        assert_eq!(c.base_model.as_deref(), Some("flux1"));
        assert_eq!(c.base_model_raw.as_deref(), Some("Flux.1 D"));
        assert_eq!(c.base_repo, None);
        assert_eq!(c.tags, ["photorealistic", "style"]);
        assert_eq!(c.page_url, "https://civitai.com/models/631986");
        assert_eq!(c.updated_at.as_deref(), Some("2024-08-12T10:02:11Z"));
        assert!(!c.nsfw);
        assert_eq!(l.next_cursor.as_deref(), Some("184233|631986"));
    }

    #[test]
    fn versions_checkpoints_videos_and_adult_items() {
        let l = page(false);
        let ids: Vec<_> = l.cards.iter().map(|c| c.id.as_str()).collect();
        // The checkpoint and the adult model are not shown.
        assert_eq!(ids, ["631986@706528", "827184@2514310", "900001@900002"]);
        assert_eq!(l.raw_count, 5);
        // Several versions: the first, named in the title; trigger words from it.
        let qwen = &l.cards[1];
        assert_eq!(qwen.title, "Qwen Ink Wash (v2.0)");
        assert_eq!(qwen.base_model.as_deref(), Some("qwen-image"));
        assert_eq!(qwen.trigger_words, ["ink wash", "sumi-e"]);
        // A video first and an adult image second: the third, a PG image, is the cover.
        assert!(qwen.cover_url.as_deref().unwrap().ends_with("/3003.jpeg"));
        // Only a video: no cover.
        assert_eq!(l.cards[2].cover_url, None);
        assert_eq!(l.cards[2].base_model.as_deref(), Some("z-image"));

        let all = page(true);
        let adult = all.cards.iter().find(|c| c.id == "777777@777778").unwrap();
        assert!(adult.nsfw);
        assert_eq!(all.cards.len(), 4);
    }

    #[test]
    fn a_named_version_is_chosen() {
        let body: Value = serde_json::from_str(PAGE).unwrap();
        let item = &body["items"][1];
        let c = parse_item(item, &[], false, Some(2514309)).unwrap();
        assert_eq!(c.id, "827184@2514309");
        assert_eq!(c.title, "Qwen Ink Wash (v1.0)");
        assert!(parse_item(item, &[], false, Some(1)).is_none());
    }

    #[test]
    fn card_ids_parse() {
        assert_eq!(parse_id("631986@706528").unwrap(), (631986, Some(706528)));
        assert_eq!(parse_id("631986").unwrap(), (631986, None));
        assert!(parse_id("owner/name").is_err());
        assert!(parse_id("1@x").is_err());
    }
}
