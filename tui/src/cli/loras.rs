//! `genq loras`: LoRA cards from the catalog (ModelScope by default, or Civitai or Hugging
//! Face), with covers, written as the Top-LoRAs cache file `top_loras_<safe_task>.json` =
//! `{"_cached_at", "results": [...]}` (`top_loras_<source>_<safe_task>.json` for the other
//! sources, so they never overwrite the ModelScope file).

use super::ctx::{Ctx, print_json};
use super::error::CliError;
use clap::{Args, ValueEnum};
use genq_protocol::catalog::{LoraPage, LoraSort, LoraSource, LorasListParams};
use genq_protocol::methods::{LorasList, LorasRefresh};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SortArg {
    Downloads,
    Newest,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SourceArg {
    Modelscope,
    Civitai,
    Huggingface,
}

impl From<SourceArg> for LoraSource {
    fn from(s: SourceArg) -> Self {
        match s {
            SourceArg::Modelscope => LoraSource::Modelscope,
            SourceArg::Civitai => LoraSource::Civitai,
            SourceArg::Huggingface => LoraSource::Huggingface,
        }
    }
}

#[derive(Debug, Args)]
pub struct LorasArgs {
    /// Where the LoRAs come from. Only ModelScope LoRAs can be sent with a job.
    #[arg(long, value_enum, default_value = "modelscope")]
    pub source: SourceArg,
    /// The task the LoRAs serve; names the cache file and the cover folder.
    #[arg(long, value_name = "TASK", default_value = "text-to-image-synthesis")]
    pub task: String,
    /// How many LoRAs.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=200))]
    pub limit: u32,
    /// Page of N LoRAs, from 1.
    #[arg(long, value_name = "P", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub page: u32,
    /// Only LoRAs for this exact base: QWEN_IMAGE_2512 or Z_IMAGE_TURBO on ModelScope,
    /// "Flux.1 D" on Civitai, black-forest-labs/FLUX.1-dev on Hugging Face.
    #[arg(long, value_name = "BASE")]
    pub base: Option<String>,
    /// Search text.
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    #[arg(long, value_enum, default_value = "downloads")]
    pub sort: SortArg,
    /// Fetch again even when the cached copy is younger than 10 minutes.
    #[arg(long)]
    pub force_refresh: bool,
    /// Where to write the cache file (default: the genq cache directory).
    #[arg(long, value_name = "PATH")]
    pub cache_file: Option<PathBuf>,
    /// Where covers go (default: the genq cache's images/<task>/); with --host, a folder on
    /// that host given as file:///PATH.
    #[arg(long, value_name = "DIR")]
    pub images_dir: Option<PathBuf>,
    /// Do not download covers.
    #[arg(long)]
    pub no_covers: bool,
    /// Print the cache document on stdout.
    #[arg(long)]
    pub json: bool,
}

fn absolute(p: &Path) -> Result<PathBuf, CliError> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    std::env::current_dir()
        .map(|d| d.join(p))
        .map_err(|e| CliError::Usage(format!("cannot resolve {}: {e}", p.display())))
}

/// The folder the daemon writes covers to, on its own disk: a path of this machine made
/// absolute, or over `--host` a folder there given as `file:///PATH` (a path here is refused,
/// as the daemon cannot write to it).
fn covers_dir(ctx: &Ctx, dir: &Path) -> Result<String, CliError> {
    let Some(host) = ctx.endpoint.remote() else {
        return absolute(dir).map(|d| d.display().to_string());
    };
    let text = dir.to_string_lossy();
    match text.strip_prefix("file://").filter(|p| p.starts_with('/')) {
        Some(path) => Ok(path.to_string()),
        None => Err(CliError::Usage(format!(
            "--images-dir: the daemon on {host} writes covers to its own disk, not to this \
             machine's; give a folder on {host} as file:///PATH",
            host = host.name()
        ))),
    }
}

/// The Top-LoRAs cache document: the card fields plus the contract's names, without
/// `aigc_attributes` or any raw blob (cards hold none).
pub fn export(page: &LoraPage) -> Value {
    let results: Vec<Value> = page
        .cards
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "source": c.source,
                "title_en": c.title,
                "title_cn": c.title_cn,
                "author": c.author,
                "cover_url": c.cover_url,
                "cover_local": c.cover_local,
                "downloads": c.downloads,
                "downloads_period": c.downloads_period,
                "likes": c.likes,
                "base_model": c.base_model,
                "base_model_raw": c.base_model_raw,
                "base_repo": c.base_repo,
                "trigger_words": c.trigger_words,
                "tags": c.tags,
                "modelscope_url": c.page_url,
                "page_url": c.page_url,
                "updated_at": c.updated_at,
                "license": c.license,
                "nsfw": c.nsfw,
                "compatible_models": c.compatible_models,
            })
        })
        .collect();
    json!({"_cached_at": page.cached_at, "results": results})
}

pub async fn run(ctx: &Ctx, args: LorasArgs) -> Result<(), CliError> {
    let images_dir = args
        .images_dir
        .as_deref()
        .map(|dir| covers_dir(ctx, dir))
        .transpose()?;
    let source = LoraSource::from(args.source);
    let params = LorasListParams {
        source,
        task: args.task.clone(),
        base: args.base,
        keyword: args.search,
        sort: match args.sort {
            SortArg::Downloads => LoraSort::Downloads,
            SortArg::Newest => LoraSort::Newest,
        },
        limit: Some(args.limit),
        page: Some(args.page),
        force_refresh: args.force_refresh,
        download_covers: !args.no_covers,
        images_dir,
    };
    let (client, _notes) = ctx.connect().await?;
    let page = if args.force_refresh {
        client.call::<LorasRefresh>(params).await?
    } else {
        client.call::<LorasList>(params).await?
    };
    let doc = export(&page);
    let file = match &args.cache_file {
        Some(f) => absolute(f)?,
        None => {
            let task = genq_protocol::paths::safe_name(&args.task);
            ctx.paths.cache.join(match source {
                LoraSource::Modelscope => format!("top_loras_{task}.json"),
                other => format!("top_loras_{other}_{task}.json"),
            })
        }
    };
    write_atomic(&file, &doc)?;
    if args.json {
        return print_json(&doc);
    }
    for c in &page.cards {
        println!(
            "{:>8}  {:<12} {}{}",
            c.downloads
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into()),
            c.base_model.as_deref().unwrap_or("?"),
            c.id,
            c.title_cn
                .as_deref()
                .map(|t| format!("  {t}"))
                .unwrap_or_default()
        );
    }
    if page.cards.len() < args.limit as usize {
        eprintln!(
            "({} of {} asked for: the source has no more)",
            page.cards.len(),
            args.limit
        );
    }
    eprintln!(
        "{} LoRAs ({}, fetched {}) written to {}",
        page.cards.len(),
        if page.from_cache { "cached" } else { "fresh" },
        page.cached_at,
        file.display()
    );
    Ok(())
}

fn write_atomic(path: &Path, doc: &Value) -> Result<(), CliError> {
    let fail =
        |e: std::io::Error| CliError::Failed(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let text = serde_json::to_string_pretty(doc)
        .map_err(|e| CliError::Failed(format!("cannot write JSON: {e}")))?;
    let tmp = path.with_extension("json.part");
    std::fs::write(&tmp, text).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}
