//! Listings and details: checks the request, asks the source it names, caches each query
//! in the database for the context's `ttl`, has covers downloaded when asked, and says which catalog
//! models take each card (ModelScope LoRAs only: the providers take ModelScope
//! repositories).

use super::covers::download_covers;
use super::source::{CURSOR_DEPTH, CatalogError, LoraContext, Window};
use super::{civitai, huggingface, modelscope};
use genq_protocol::Timestamp;
use genq_protocol::catalog::{
    LORAS_DEFAULT_LIMIT, LORAS_MAX_LIMIT, LoraCard, LoraPage, LoraSort, LoraSource,
    LorasListParams, Model,
};
use genq_protocol::paths::safe_name;
use std::path::{Path, PathBuf};

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
    let window = Window {
        skip: u64::from(page - 1) * u64::from(limit),
        limit,
    };
    let (mut cards, total) = match p.source {
        LoraSource::Modelscope => modelscope::fetch(ctx, p, limit, page).await?,
        LoraSource::Civitai => (civitai::fetch(ctx, p, window).await?, None),
        LoraSource::Huggingface => (huggingface::fetch(ctx, p, window).await?, None),
    };
    // The sources are not known to honour every sort key with every filter: re-sort.
    match p.sort {
        LoraSort::Downloads => cards.sort_by_key(|c| std::cmp::Reverse(c.downloads)),
        LoraSort::Newest => cards.sort_by_key(|c| std::cmp::Reverse(c.updated_at.clone())),
    }
    Ok((cards, total))
}

/// One card by id, from the source's detail endpoint (cached like listings).
pub async fn detail(
    ctx: &LoraContext,
    source: LoraSource,
    id: &str,
) -> Result<Option<LoraCard>, CatalogError> {
    let card = match source {
        LoraSource::Modelscope => modelscope::detail(ctx, id).await?,
        LoraSource::Civitai => civitai::detail(ctx, id).await?,
        LoraSource::Huggingface => huggingface::detail(ctx, id).await?,
    };
    if let Some(card) = &card {
        ctx.store.update_lora_card(card.clone()).await?;
    }
    Ok(card)
}

/// Lists LoRA cards: from the cache while it is younger than the context's `ttl` (unless forced), else
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
