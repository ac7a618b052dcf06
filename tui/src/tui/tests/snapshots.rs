//! Every screen drawn on a `TestBackend` at 100×30 and 60×15, compared with the accepted
//! snapshots in `snapshots/`.

use super::fixtures::*;
use crate::tui::action::{Action, CallError, UiAction};
use crate::tui::app::App;
use crate::tui::command::Command;
use crate::tui::screens;
use crate::tui::screens::detail::PreviewState;
use crate::tui::screens::submit::Field;
use crate::tui::shared::Connection;
use genq_protocol::JobState;
use genq_protocol::methods::ProviderInfo;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const SIZES: [(u16, u16); 2] = [(100, 30), (60, 15)];

fn render(app: &App) -> String {
    let (w, h) = app.shared.size;
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| crate::tui::draw(f, app)).unwrap();
    term.backend().to_string()
}

fn check(name: &str, app: &App) {
    let (w, h) = app.shared.size;
    insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(app));
}

/// Puts the detail of `job` on screen, with its events.
fn open_detail(app: &mut App, job: genq_protocol::Job) {
    let events = events(&job);
    app.jobs.rows.insert(0, job.clone());
    app.jobs.selected = 0;
    app.update(Action::Ui(UiAction::Open));
    app.update(Action::JobLoaded(job.clone()));
    app.update(Action::EventsLoaded {
        id: job.id.clone(),
        events,
    });
}

#[test]
fn jobs_screen() {
    for size in SIZES {
        check("jobs", &app_with_jobs(size, 120));
    }
}

#[test]
fn jobs_screen_empty_and_loading() {
    for size in SIZES {
        check("jobs_empty", &app_with_jobs(size, 0));
        check("jobs_loading", &App::new(size, at(0)));
    }
}

#[test]
fn jobs_screen_filtered_with_search_prompt() {
    for size in SIZES {
        let mut app = app_with_jobs(size, 120);
        app.update(Action::Ui(UiAction::FilterNext));
        app.jobs.search.applied = "fox".into();
        app.jobs.search.input = Some("fox in sn".into());
        check("jobs_search", &app);
    }
}

#[test]
fn jobs_screen_reconnecting_with_error() {
    for size in SIZES {
        let mut app = app_with_jobs(size, 120);
        app.update(Action::Disconnected {
            reason: "the connection to the daemon was lost".into(),
        });
        app.update(Action::Reconnecting {
            attempt: 3,
            delay_ms: 2000,
        });
        check("jobs_reconnecting", &app);
    }
}

#[test]
fn cancel_confirm_dialog() {
    for size in SIZES {
        let mut app = app_with_jobs(size, 120);
        app.update(Action::Ui(UiAction::Cancel));
        assert!(app.confirm.is_some());
        check("confirm_cancel", &app);
    }
}

#[test]
fn detail_screen_of_a_finished_job() {
    for size in SIZES {
        let mut app = app_with_jobs(size, 120);
        open_detail(&mut app, rich_job());
        check("detail", &app);
    }
}

#[test]
fn detail_screen_of_a_failed_job_scrolled() {
    for size in SIZES {
        let mut app = app_with_jobs(size, 120);
        open_detail(&mut app, failed_job());
        check("detail_failed", &app);
    }
}

#[test]
fn detail_screen_with_halfblocks_preview() {
    let mut app = app_with_jobs((100, 30), 120);
    app.shared.previews = true;
    open_detail(&mut app, rich_job());
    let picker = ratatui_image::picker::Picker::halfblocks();
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(400, 400, |x, y| {
        image::Rgb([(x / 2) as u8, (y / 2) as u8, 128])
    }));
    let (cols, rows) = screens::detail::preview_size(app.shared.size);
    let proto = picker
        .new_protocol(
            img,
            ratatui::layout::Size::new(cols, rows),
            ratatui_image::Resize::Fit(None),
        )
        .unwrap();
    app.detail.open.as_mut().unwrap().preview = PreviewState::Ready(proto);
    check("detail_preview", &app);
}

/// A 3D job: model format, size and upload URL per output, generation time, trace ids, and
/// the rendered preview beside them when the terminal is wide enough.
#[test]
fn detail_screen_of_a_3d_job() {
    for size in SIZES {
        let mut app = app_with_jobs(size, 120);
        app.shared.previews = true;
        let job = model3d_job();
        open_detail(&mut app, job.clone());
        let (cols, rows) = screens::detail::preview_size(app.shared.size);
        if cols > 0 {
            // The preview asked for is the rendered image, not a model file.
            app.detail.open.as_mut().unwrap().preview = PreviewState::None;
            let asked: Vec<String> = app
                .update(Action::JobLoaded(job))
                .into_iter()
                .filter_map(|c| match c {
                    Command::LoadPreview { path, .. } => Some(path),
                    _ => None,
                })
                .collect();
            assert_eq!(asked.len(), 1, "{asked:?}");
            assert!(asked[0].ends_with("/2.png"), "{asked:?}");
            let picker = ratatui_image::picker::Picker::halfblocks();
            let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(256, 256, |x, y| {
                let d = (x as i32 - 128).pow(2) + (y as i32 - 128).pow(2);
                if d < 80 * 80 {
                    image::Rgb([200, 120, 60])
                } else {
                    image::Rgb([30, 30, 40])
                }
            }));
            let proto = picker
                .new_protocol(
                    img,
                    ratatui::layout::Size::new(cols, rows),
                    ratatui_image::Resize::Fit(None),
                )
                .unwrap();
            app.detail.open.as_mut().unwrap().preview = PreviewState::Ready(proto);
        }
        check("detail_model3d", &app);
    }
}

#[test]
fn a_running_3d_job_shows_a_percentage_bar_in_the_table_and_the_detail() {
    let mut job = model3d_job();
    job.state = JobState::Running;
    job.finished_at = None;
    job.progress = Some(65);
    job.outputs.clear();
    job.generation_ms = None;
    let mut app = app_with_jobs((100, 30), 120);
    open_detail(&mut app, job.clone());
    let detail = render(&app);
    assert!(detail.contains("█████████████░░░░░░░ 65%"), "{detail}");
    app.update(Action::Ui(UiAction::Back));
    let table = render(&app);
    let row = table
        .lines()
        .find(|l| l.contains(&format!(" {} ", job.short_id())))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("██████░░  65%"), "{row}");
}

#[test]
fn submit_screen() {
    for size in SIZES {
        let mut app = app_with_jobs(size, 3);
        app.update(Action::Ui(UiAction::NewJob));
        check("submit", &app);
    }
}

#[test]
fn submit_screen_with_errors() {
    for size in SIZES {
        let mut app = app_with_jobs(size, 3);
        app.update(Action::Ui(UiAction::NewJob));
        app.form.set_text(Field::Steps, "500");
        app.form.set_text(Field::Loras, "a/b:0.5\nc/d:0.9");
        app.update(Action::Ui(UiAction::FormSubmit));
        app.update(Action::SubmitFailed(CallError {
            kind: None,
            message: "seed: out of range".into(),
            field: Some("spec.seed".into()),
            allowed: Some("0–2147483647".into()),
        }));
        check("submit_errors", &app);
    }
}

#[test]
fn submit_screen_prefilled_for_rerun() {
    for size in SIZES {
        let mut app = app_with_jobs(size, 3);
        app.update(Action::Ui(UiAction::Rerun));
        app.update(Action::RerunLoaded(rich_job().params));
        check("submit_rerun", &app);
    }
}

#[test]
fn help_screens() {
    for size in SIZES {
        let mut app = app_with_jobs(size, 3);
        app.update(Action::Ui(UiAction::Help));
        check("help_jobs", &app);
        app.update(Action::Ui(UiAction::Back));
        app.update(Action::Ui(UiAction::NewJob));
        app.update(Action::Ui(UiAction::Help));
        check("help_submit", &app);
    }
}

#[test]
fn tiny_and_odd_sizes_never_panic() {
    for (w, h) in [(1, 1), (10, 3), (20, 5), (59, 14), (60, 15), (300, 80)] {
        let mut app = app_with_jobs((w, h), 120);
        render(&app);
        open_detail(&mut app, rich_job());
        render(&app);
        app.update(Action::Ui(UiAction::NewJob));
        render(&app);
        app.update(Action::Ui(UiAction::Help));
        render(&app);
        app.update(Action::Resize(w / 2, h / 2));
        app.shared.size = (w / 2 + 1, h / 2 + 1);
        render(&app);
    }
    let _ = (JobState::Queued, Connection::Connecting);
}

/// A provider as `providers.list` reports it.
fn provider(name: &str, remaining: Option<i64>, detail: Option<&str>) -> ProviderInfo {
    ProviderInfo {
        name: name.into(),
        provider_type: None,
        base_url: "http://127.0.0.1:1".into(),
        key_source: "env".into(),
        has_key: true,
        max_concurrent: 2,
        requests_per_second: 2.0,
        timeout_s: 30,
        in_flight: 0,
        queued: 0,
        paused_for_s: None,
        quota_remaining: remaining,
        quota_detail: detail.map(str::to_string),
        last_error: None,
    }
}

#[test]
fn status_bar_shows_provider_quota() {
    for size in SIZES {
        let mut app = app_with_jobs(size, 3);
        app.update(Action::ProvidersLoaded(vec![
            provider("modelscope", Some(480), Some("daily")),
            provider("dashscope", None, None),
            provider("tripo", None, Some("balance 12.50 credits")),
        ]));
        check("status_quota", &app);
        let status = render(&app);
        let last = status.lines().last().unwrap();
        assert!(last.contains("modelscope 480 left"), "{last}");
        assert!(!last.contains("dashscope"), "{last}");
    }
}
