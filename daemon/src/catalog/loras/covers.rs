//! LoRA covers: downloaded with bounded concurrency (anonymously; the source's key only
//! after a 401/403), a placeholder in place of a dead cover, tried again on a later listing.

use super::cards::allowed_cover;
use super::source::{CatalogError, LoraContext, http};
use crate::secret::Secret;
use futures::StreamExt;
use genq_protocol::catalog::{LoraCard, LoraSource};
use genq_protocol::paths::safe_name;
use std::path::{Path, PathBuf};

/// Covers downloaded at once.
const COVER_CONCURRENCY: usize = 4;
/// Largest cover accepted.
const COVER_MAX_BYTES: usize = 10 * 1024 * 1024;
/// What a dead cover is replaced by, in the covers' directory.
pub const PLACEHOLDER: &str = "placeholder.png";

fn needs_cover(c: &LoraCard) -> bool {
    match &c.cover_local {
        None => true,
        Some(p) => p.ends_with(PLACEHOLDER) || !Path::new(p).exists(),
    }
}

/// Downloads missing or dead covers into `dir`, at most [`COVER_CONCURRENCY`] at a time.
pub async fn download_covers(
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
    if !allowed_cover(url, &ctx.extra_hosts) {
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
