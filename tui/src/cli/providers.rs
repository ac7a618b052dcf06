//! `genq providers [--json]`: every provider with where its key comes from (never the key),
//! its load, the remaining quota when the provider reports one, and its last error.

use super::args::ProvidersArgs;
use super::ctx::{Ctx, print_json};
use super::error::CliError;
use crate::format::one_line;
use genq_protocol::methods::{Empty, ProviderInfo, ProvidersList};
use std::fmt::Write;

pub async fn run(ctx: &Ctx, args: ProvidersArgs) -> Result<(), CliError> {
    let providers = ctx.call::<ProvidersList>(Empty {}).await?;
    if args.json {
        return print_json(&providers);
    }
    print!("{}", table(&providers));
    if !providers.iter().any(|p| p.has_key) {
        println!("\n{}", super::auth::no_key_hint());
    }
    Ok(())
}

/// The human table: one row per provider, the last error last so it may run long.
pub fn table(providers: &[ProviderInfo]) -> String {
    let headers = [
        "NAME",
        "BASE URL",
        "KEY",
        "IN FLIGHT",
        "QUEUED",
        "QUOTA",
        "LAST ERROR",
    ];
    let rows: Vec<[String; 7]> = providers.iter().map(row).collect();
    let mut widths = headers.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 7]| {
        let mut l = String::new();
        for (cell, w) in cells.iter().zip(widths) {
            let _ = write!(l, "{cell:<w$}  ");
        }
        let _ = writeln!(out, "{}", l.trim_end());
    };
    line(headers);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6]].map(String::as_str));
    }
    out
}

/// The instance's name, with its type when the name is not the type's own.
pub fn shown_name(p: &ProviderInfo) -> String {
    match p.provider_type.as_deref() {
        Some(t) if t != p.name => format!("{} ({t})", p.name),
        _ => p.name.clone(),
    }
}

fn row(p: &ProviderInfo) -> [String; 7] {
    let key = if p.has_key || p.key_source == "none" {
        p.key_source.clone()
    } else {
        // The source is named but gave nothing (an unset variable).
        format!("{} (not set)", p.key_source)
    };
    let quota = match (p.quota_remaining, &p.quota_detail) {
        (_, Some(detail)) => detail.clone(),
        (Some(n), None) => n.to_string(),
        (None, None) => "-".into(),
    };
    let mut in_flight = format!("{}/{}", p.in_flight, p.max_concurrent);
    if let Some(paused) = p.paused_for_s {
        let _ = write!(in_flight, " (paused {paused:.0} s)");
    }
    [
        shown_name(p),
        p.base_url.clone(),
        key,
        in_flight,
        p.queued.to_string(),
        quota,
        p.last_error
            .as_deref()
            .map(|e| one_line(e, 200))
            .unwrap_or_else(|| "-".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str) -> ProviderInfo {
        ProviderInfo {
            name: name.into(),
            provider_type: None,
            base_url: "https://api-inference.modelscope.cn".into(),
            key_source: "env MODELSCOPE_API_TOKEN".into(),
            has_key: true,
            max_concurrent: 1,
            requests_per_second: 1.0,
            timeout_s: 900,
            in_flight: 1,
            queued: 3,
            paused_for_s: None,
            quota_remaining: Some(248),
            quota_detail: Some("248 points (魔粒) available".into()),
            last_error: None,
        }
    }

    #[test]
    fn table_shows_every_column_and_marks_a_missing_key() {
        let mut ds = info("dashscope");
        ds.has_key = false;
        ds.key_source = "env DASHSCOPE_API_KEY".into();
        ds.quota_remaining = None;
        ds.quota_detail = None;
        ds.last_error = Some("submit: Invalid API-key provided.".into());
        let t = table(&[info("modelscope"), ds]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines[0].starts_with("NAME") && lines[0].ends_with("LAST ERROR"));
        assert!(
            lines[1].contains("1/1") && lines[1].contains("248 points"),
            "{t}"
        );
        assert!(lines[2].contains("env DASHSCOPE_API_KEY (not set)"), "{t}");
        assert!(
            lines[2].ends_with("submit: Invalid API-key provided."),
            "{t}"
        );
    }
}
