//! Hugging Face as a LoRA source (catalog.md §3): `GET /api/models?filter=lora&…` with
//! `full=true&cardData=true`, paged by the `Link: <…>; rel="next"` header; the detail
//! `GET /api/models/{owner}/{name}`. Covers are the card's widget sample or the first image
//! in the repository, resolved to `{site}/{id}/resolve/main/{path}`. `downloads` counts the
//! last 30 days unless the all-time figure is there, and the card says which.

use super::cards::{allowed_cover, family_of, s};
use super::source::{
    CatalogError, LoraContext, Page, Window, fetch_listing, fetch_reply, follow_pages, http,
    owner_name, with_key,
};
use genq_protocol::Timestamp;
use genq_protocol::catalog::{LoraCard, LoraSort, LoraSource, LorasListParams};
use serde_json::Value;

/// The largest `limit` asked per request.
const MAX_PAGE: u64 = 100;
/// The tag that marks adult repositories.
const ADULT_TAG: &str = "not-for-all-audiences";
const IMAGE_EXTENSIONS: &[&str] = &[".png", ".jpg", ".jpeg", ".webp"];

/// The window's cards of the listing, following `Link` headers from the first page.
pub async fn fetch(
    ctx: &LoraContext,
    p: &LorasListParams,
    window: Window,
) -> Result<Vec<LoraCard>, CatalogError> {
    let site = &ctx.sites.huggingface_base_url;
    let mut query: Vec<(&str, String)> = vec![
        ("filter", "lora".into()),
        ("pipeline_tag", "text-to-image".into()),
        (
            "sort",
            match p.sort {
                LoraSort::Downloads => "downloads",
                LoraSort::Newest => "lastModified",
            }
            .into(),
        ),
        ("direction", "-1".into()),
        ("limit", window.page_size(MAX_PAGE)),
        ("full", "true".into()),
        ("cardData", "true".into()),
    ];
    if let Some(k) = p.keyword.as_deref().filter(|k| !k.is_empty()) {
        query.push(("search", k.into()));
    }
    if let Some(b) = &p.base {
        // Repeated `filter` parameters AND, as the Hub's own SDK sends them.
        query.push(("filter", format!("base_model:adapter:{b}")));
    }
    let first = format!("{site}/api/models");
    let (first, query) = (&first, &query);
    follow_pages(window, MAX_PAGE, |next: Option<String>| async move {
        let (req, url) = match next {
            Some(n) => (http().get(&n), n),
            None => (http().get(first).query(query), first.clone()),
        };
        let reply = fetch_listing(ctx, req, &url, LoraSource::Huggingface).await?;
        let items = reply
            .body
            .as_array()
            .ok_or_else(|| CatalogError::Source(format!("{url} did not send a list of models")))?;
        let next = reply
            .headers
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_link)
            // Only pages of the same site are followed.
            .filter(|n| n.starts_with(&format!("{site}/")));
        Ok(Page {
            cards: items
                .iter()
                .filter_map(|i| parse_item(i, site, &ctx.extra_hosts, ctx.sites.nsfw))
                .collect(),
            items: items.len(),
            next,
        })
    })
    .await
}

/// One card by repository id.
pub async fn detail(ctx: &LoraContext, id: &str) -> Result<Option<LoraCard>, CatalogError> {
    let (owner, name) = owner_name(id)?;
    let site = &ctx.sites.huggingface_base_url;
    let url = format!("{site}/api/models/{owner}/{name}");
    let req = with_key(http().get(&url), ctx.source_key(LoraSource::Huggingface));
    let reply = fetch_reply(req, &url, LoraSource::Huggingface).await?;
    if reply.status == 404 {
        return Ok(None);
    }
    Ok(parse_item(
        &reply.body,
        site,
        &ctx.extra_hosts,
        ctx.sites.nsfw,
    ))
}

/// The `rel="next"` target of a `Link` header value.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"))
            .then(|| target.to_string())
    })
}

/// A string or the first string of a list.
fn first_string(v: &Value) -> Option<String> {
    s(v).or_else(|| v.as_array().and_then(|a| a.iter().find_map(s)))
}

/// `{site}/{id}/resolve/main/{path}` for a repository-relative path; absolute URLs as given.
fn resolve(site: &str, id: &str, path: &str) -> String {
    if path.starts_with("https://") || path.starts_with("http://") {
        return path.to_string();
    }
    let path = path.trim_start_matches('/').replace(' ', "%20");
    format!("{site}/{id}/resolve/main/{path}")
}

/// One model → a card; `None` without an id, or when adult while `nsfw` is off.
pub fn parse_item(
    item: &Value,
    site: &str,
    extra_hosts: &[String],
    nsfw: bool,
) -> Option<LoraCard> {
    let id = s(&item["id"]).or_else(|| s(&item["modelId"]))?;
    let tags: Vec<String> = item["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(s)
        .collect();
    let marked = tags.iter().any(|t| t == ADULT_TAG);
    if marked && !nsfw {
        return None;
    }
    let card = &item["cardData"];
    let base_raw = tags
        .iter()
        .find_map(|t| t.strip_prefix("base_model:adapter:"))
        .map(String::from)
        .or_else(|| first_string(&card["base_model"]));
    let widget_cover = card["widget"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| s(&w["output"]["url"]));
    let sibling_cover = item["siblings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| s(&f["rfilename"]))
        .filter(|f| {
            let lower = f.to_ascii_lowercase();
            IMAGE_EXTENSIONS.iter().any(|e| lower.ends_with(e))
        });
    let cover = widget_cover
        .chain(sibling_cover)
        .map(|p| resolve(site, &id, &p))
        .find(|u| allowed_cover(u, extra_hosts));
    let (downloads, period) = match item["downloadsAllTime"].as_u64() {
        Some(all) => (Some(all), None),
        None => (
            item["downloads"].as_u64(),
            item["downloads"].is_u64().then(|| "30d".to_string()),
        ),
    };
    let license = s(&card["license"]).or_else(|| {
        tags.iter()
            .find_map(|t| t.strip_prefix("license:"))
            .map(String::from)
    });
    let updated_at = s(&item["lastModified"])
        .or_else(|| s(&item["createdAt"]))
        .and_then(|t| Timestamp::parse_rfc3339(&t))
        .map(|t| t.to_string());
    Some(LoraCard {
        source: LoraSource::Huggingface.to_string(),
        title: id.rsplit('/').next().unwrap_or(&id).to_string(),
        author: s(&item["author"]).or_else(|| id.split_once('/').map(|(a, _)| a.to_string())),
        cover_url: cover,
        downloads,
        downloads_period: period,
        likes: item["likes"].as_u64(),
        base_model: base_raw.as_deref().map(|r| family_of(r).to_string()),
        base_model_raw: base_raw,
        trigger_words: match &card["instance_prompt"] {
            Value::Array(a) => a.iter().filter_map(s).collect(),
            v => s(v).into_iter().collect(),
        },
        tags: tags
            .iter()
            .filter(|t| {
                !["base_model:", "license:", "region:"]
                    .iter()
                    .any(|p| t.starts_with(p))
            })
            .cloned()
            .collect(),
        page_url: format!("{site}/{id}"),
        updated_at,
        license,
        nsfw: marked,
        id,
        ..LoraCard::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = include_str!("../../../../tests/fixtures/catalog/hf_models.json");
    const SITE: &str = "https://huggingface.co";

    fn cards(nsfw: bool) -> Vec<LoraCard> {
        let body: Value = serde_json::from_str(PAGE).unwrap();
        body.as_array()
            .unwrap()
            .iter()
            .filter_map(|i| parse_item(i, SITE, &[], nsfw))
            .collect()
    }

    #[test]
    fn the_reference_item_becomes_a_card() {
        let c = &cards(false)[0];
        assert_eq!(c.id, "XLabs-AI/flux-RealismLora");
        assert_eq!(c.source, "huggingface");
        assert_eq!(c.title, "flux-RealismLora");
        assert_eq!(c.author.as_deref(), Some("XLabs-AI"));
        assert_eq!(
            c.cover_url.as_deref(),
            Some("https://huggingface.co/XLabs-AI/flux-RealismLora/resolve/main/images/1.png")
        );
        assert_eq!(c.downloads, Some(35210));
        assert_eq!(c.downloads_period.as_deref(), Some("30d"));
        assert_eq!(c.likes, Some(1142));
        assert_eq!(c.base_model.as_deref(), Some("flux1"));
        assert_eq!(
            c.base_model_raw.as_deref(),
            Some("black-forest-labs/FLUX.1-dev")
        );
        assert!(c.trigger_words.is_empty());
        assert_eq!(c.tags, ["diffusers", "lora", "text-to-image", "flux"]);
        assert_eq!(c.license.as_deref(), Some("other"));
        assert_eq!(
            c.page_url,
            "https://huggingface.co/XLabs-AI/flux-RealismLora"
        );
        assert_eq!(c.updated_at.as_deref(), Some("2024-08-22T10:11:12Z"));
    }

    #[test]
    fn siblings_lists_of_bases_triggers_and_adult_repos() {
        let all = cards(false);
        let ids: Vec<_> = all.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "XLabs-AI/flux-RealismLora",
                "ink/qwen-ink",
                "plain/no-cover"
            ]
        );
        let qwen = &all[1];
        // No widget: the first image among the files; base from cardData's list.
        assert_eq!(
            qwen.cover_url.as_deref(),
            Some("https://huggingface.co/ink/qwen-ink/resolve/main/samples/a%20b.webp")
        );
        assert_eq!(qwen.base_model.as_deref(), Some("qwen-image"));
        assert_eq!(qwen.trigger_words, ["in ink style"]);
        assert_eq!(qwen.downloads, Some(900));
        assert_eq!(qwen.downloads_period, None);
        assert_eq!(qwen.updated_at.as_deref(), Some("2025-01-02T03:04:05Z"));
        assert_eq!(all[2].cover_url, None);
        assert_eq!(all[2].base_model, None);

        let with_adult = cards(true);
        assert_eq!(with_adult.len(), 4);
        assert!(with_adult.iter().any(|c| c.nsfw));
    }

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link("<https://huggingface.co/api/models?cursor=abc>; rel=\"next\"").as_deref(),
            Some("https://huggingface.co/api/models?cursor=abc")
        );
        assert_eq!(
            next_link("<https://a/p1>; rel=\"prev\", <https://a/p3>; rel=\"next\"").as_deref(),
            Some("https://a/p3")
        );
        assert_eq!(next_link("<https://a/p1>; rel=\"prev\""), None);
    }
}
