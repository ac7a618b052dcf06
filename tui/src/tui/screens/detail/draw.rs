//! Drawing one job in full: parameters, error, outputs (with a 3D model's format, size and
//! upload URLs), the provider's request ids, the event timeline, and a preview of the first
//! image output (a 3D job's rendered preview) when the terminal is wide enough.

use super::state::{DetailScreen, DetailView, LoraLookup, PreviewState, preview_size};
use crate::format::{self, FactWording};
use crate::tui::shared::Shared;
use crate::tui::theme;
use genq_protocol::{Event, Job, JobKind, Output, Timestamp};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui_image::Image;

pub fn draw(frame: &mut Frame, area: Rect, screen: &DetailScreen, shared: &Shared) {
    let Some(detail) = &screen.open else {
        frame.render_widget(
            theme::placeholder(
                " Job ",
                "no job open; select one on the jobs screen and press Enter",
            ),
            area,
        );
        return;
    };
    let show_preview = shared.previews
        && preview_size(shared.size).0 > 0
        && !matches!(detail.preview, PreviewState::None);
    let (main, side) = if show_preview {
        let [main, side] =
            Layout::horizontal([Constraint::Fill(2), Constraint::Length(area.width / 3)])
                .areas(area);
        (main, Some(side))
    } else {
        (area, None)
    };
    let title = format!(" Job {} ", detail.short_id);
    let lines = match &detail.job {
        Some(job) => {
            let mut out = lines(job, detail, shared.now);
            out.extend(lora_lines(job, screen));
            out
        }
        None => vec![Line::styled("loading…", theme::dim())],
    };
    let max_scroll = (lines.len() as u16).saturating_sub(main.height.saturating_sub(2));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((detail.scroll.min(max_scroll), 0))
            .block(Block::bordered().title(title)),
        main,
    );
    if let Some(side) = side {
        let block = Block::bordered().title(" Preview ");
        let inner = block.inner(side);
        frame.render_widget(block, side);
        match &detail.preview {
            PreviewState::Ready(p) => frame.render_widget(Image::new(p), inner),
            PreviewState::Loading => frame.render_widget(
                Paragraph::new("loading preview…").style(theme::dim()),
                inner,
            ),
            PreviewState::Failed(e) => frame.render_widget(
                Paragraph::new(e.clone())
                    .style(theme::error())
                    .wrap(Wrap { trim: false }),
                inner,
            ),
            PreviewState::None => {}
        }
    }
}

fn section(name: &str) -> Line<'static> {
    Line::styled(format!("── {name} "), Style::new().fg(Color::Blue))
}

fn kv(key: &str, value: String) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{key:<10} "), theme::dim()),
        Span::raw(value),
    ])
}

fn lines(job: &Job, detail: &DetailView, now: Timestamp) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let state = Span::styled(
        format!("{} {}", theme::state_icon(job.state), job.state),
        theme::state_style(job.state),
    );
    let mut head = vec![state];
    if let Some(p) = job.running_progress() {
        let p = p.min(100);
        head.push(Span::styled(
            format!(" {}", format::progress_bar(p, 20)),
            Style::new().fg(Color::Cyan),
        ));
        head.push(Span::raw(format!(" {p}%")));
    }
    out.push(Line::from(head));
    out.push(kv("id", job.id.to_string()));
    let model = job.model.clone().unwrap_or_else(|| "(default)".into());
    out.push(kv(
        "provider",
        format!("{} · {model} · {}", job.provider, job.kind.as_str()),
    ));
    let took = match job.finished_at {
        Some(end) => format!(
            "took {}",
            format::duration_compact(end.millis_since(job.created_at))
        ),
        None => format!(
            "running for {}",
            format::duration_compact(now.millis_since(job.created_at))
        ),
    };
    out.push(kv("created", format!("{} · {took}", job.created_at)));
    if let Some(ms) = job.generation_ms {
        let ms = i64::try_from(ms).unwrap_or(i64::MAX);
        out.push(kv(
            "generated",
            format!("in {}", format::duration_compact(ms)),
        ));
    }
    if let Some(model) = model_summary(job) {
        out.push(kv("3d model", model));
    }
    if let Some(r) = &job.remote_id {
        out.push(kv("remote id", r.clone()));
    }
    if let Some(r) = &job.retry_of {
        out.push(kv("retry of", r.to_string()));
    }

    param_lines(job, &mut out);

    if let Some(err) = &job.error {
        out.push(section("Error"));
        out.push(Line::styled(
            format!("{}: {}", err.kind, err.message),
            theme::error(),
        ));
        if let Some(id) = &err.provider_request_id {
            out.push(kv("request id", id.clone()));
        }
    }

    if !job.provider_requests.is_empty() {
        out.push(section("Provider request ids"));
        for r in &job.provider_requests {
            out.push(kv(r.call.as_str(), r.request_id.clone()));
        }
    }

    output_lines(job, &mut out);

    out.push(section("Timeline"));
    if detail.events.is_empty() {
        out.push(Line::styled("(no events loaded)", theme::dim()));
    }
    for e in &detail.events {
        out.push(event_line(e));
    }
    out
}

/// The parameters the job was submitted with.
fn param_lines(job: &Job, out: &mut Vec<Line<'static>>) {
    out.push(section("Parameters"));
    let p = &job.params;
    out.push(kv("prompt", p.prompt.clone()));
    if let Some(n) = &p.negative_prompt {
        out.push(kv("negative", n.clone()));
    }
    let mut nums = Vec::new();
    if let Some(s) = p.size {
        nums.push(format!("size {s}"));
    }
    if let Some(s) = p.steps {
        nums.push(format!("steps {s}"));
    }
    if let Some(g) = p.guidance {
        nums.push(format!("guidance {g}"));
    }
    if let Some(s) = p.seed {
        nums.push(format!("seed {s}"));
    }
    if let Some(n) = p.n {
        nums.push(format!("count {n}"));
    }
    if !nums.is_empty() {
        out.push(kv("", nums.join(" · ")));
    }
    for l in &p.loras {
        out.push(kv("lora", format!("{} × {}", l.repo, l.weight)));
    }
    if let Some(img) = &p.image {
        out.push(kv("image", img.clone()));
    }
    for (name, path) in &p.views {
        out.push(kv(&format!("view {name}"), path.clone()));
    }
    match &p.store {
        Some(targets) if targets.is_empty() => out.push(kv("store", "local only".into())),
        Some(targets) => out.push(kv("store", targets.join(", "))),
        None => {}
    }
    for (k, v) in &p.params {
        out.push(kv(k, v.to_string()));
    }
}

/// Each output: where it is, what it is, its hash and uploads.
fn output_lines(job: &Job, out: &mut Vec<Line<'static>>) {
    if !job.outputs.is_empty() {
        out.push(section("Outputs"));
    }
    for o in &job.outputs {
        let where_ = o
            .path
            .clone()
            .or_else(|| o.source_url.clone())
            .unwrap_or_else(|| "(not stored yet)".into());
        out.push(Line::from(format!("#{} {where_}", o.index)));
        if let Some(facts) = format::output_facts(o, FactWording::Screen) {
            out.push(Line::styled(format!("   {facts}"), theme::dim()));
        }
        if let Some(h) = &o.sha256 {
            out.push(Line::styled(format!("   sha256 {h}"), theme::dim()));
        }
        for u in &o.uploads {
            match (&u.url, &u.error) {
                (_, Some(e)) => out.push(Line::styled(
                    format!("   ✗ {}: {e}", u.target),
                    theme::error(),
                )),
                (Some(url), None) => out.push(Line::from(format!("   → {}: {url}", u.target))),
                (None, None) => out.push(Line::from(format!("   → {}", u.target))),
            }
        }
    }
}

/// The main model file of a 3D job, e.g. `GLB · 2.3 MiB`, so it shows without scrolling.
fn model_summary(job: &Job) -> Option<String> {
    if job.kind != JobKind::Model3d {
        return None;
    }
    let is_model = |o: &&Output| {
        o.format
            .as_deref()
            .is_some_and(|f| f.eq_ignore_ascii_case("glb") || f.eq_ignore_ascii_case("fbx"))
    };
    let model = job
        .outputs
        .iter()
        .filter(is_model)
        .find(|o| o.label.as_deref() == Some("model"))
        .or_else(|| job.outputs.iter().find(is_model))?;
    let mut parts = vec![model.format.clone()?.to_ascii_uppercase()];
    if let Some(size) = model.size {
        parts.push(format::bytes(size));
    }
    let targets: Vec<&str> = model
        .uploads
        .iter()
        .filter(|u| u.url.is_some())
        .map(|u| u.target.as_str())
        .collect();
    if !targets.is_empty() {
        parts.push(format!("→ {}", targets.join(", ")));
    }
    Some(parts.join(" · "))
}

fn event_line(e: &Event) -> Line<'static> {
    let what = format::event_text(&e.body, format::EventWording::Timeline);
    let style = match e.new_state() {
        Some(s) => theme::state_style(s),
        None => Style::new(),
    };
    Line::from(vec![
        Span::styled(
            format!("{} ", format::time_of_day(e.at, time::UtcOffset::UTC)),
            theme::dim(),
        ),
        Span::styled(what, style),
    ])
}

/// The LoRAs the job used, with their cards (`loras.get`); ←/→ move the mark, Enter shows
/// the marked one's details, `L` finds it on the LoRAs screen.
fn lora_lines(job: &Job, screen: &DetailScreen) -> Vec<Line<'static>> {
    let loras = &job.params.loras;
    if loras.is_empty() {
        return Vec::new();
    }
    let mut out = vec![section("LoRAs used (←/→ pick, Enter details, L find)")];
    let current = screen.lora % loras.len();
    for (i, l) in loras.iter().enumerate() {
        let marker = if i == current { "▸" } else { " " };
        let mut head = vec![Span::styled(
            format!("{marker} {} × {}", l.repo, l.weight),
            Style::new().fg(Color::Cyan),
        )];
        let mut more = Vec::new();
        match screen.lora_cards.get(&l.repo) {
            Some(LoraLookup::Found(card)) => {
                let author = card.author.as_deref().unwrap_or("unknown author");
                head.push(Span::raw(format!("  {} by {author}", card.title)));
                more.push(Line::styled(format!("   {}", card.page_url), theme::dim()));
            }
            Some(LoraLookup::Failed(e)) => more.push(Line::styled(
                format!("   card unavailable: {e}"),
                theme::dim(),
            )),
            Some(LoraLookup::Loading) | None => {
                head.push(Span::styled("  loading card…", theme::dim()))
            }
        }
        out.push(Line::from(head));
        out.extend(more);
    }
    out
}
