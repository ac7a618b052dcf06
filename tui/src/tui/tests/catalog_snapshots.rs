//! The models and LoRAs screens, the submit form on the daemon's catalog, and the job
//! detail's LoRA links, drawn at 100×30 and 60×15.

use super::catalog_fixtures::*;
use super::fixtures::*;
use crate::tui::action::{Action, CallError, UiAction};
use crate::tui::app::App;
use crate::tui::command::Command;
use crate::tui::screens;
use crate::tui::screens::loras::PAGE_SIZE;
use genq_protocol::{ErrorKind, JobState, Lora};
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

fn first_fetch(cmds: &[Command]) -> (u64, u32) {
    cmds.iter()
        .find_map(|c| match c {
            Command::FetchLoras { generation, params } => {
                Some((*generation, params.page.unwrap_or(1)))
            }
            _ => None,
        })
        .expect("a listing")
}

/// On the LoRAs screen with the first page of a `total`-card listing.
fn gallery(size: (u16, u16), total: u32) -> App {
    let mut app = with_catalog(app_with_jobs(size, 3));
    let cmds = app.update(Action::Ui(UiAction::GotoLoras));
    let (generation, page) = first_fetch(&cmds);
    app.update(Action::LorasLoaded {
        generation,
        page,
        covers: false,
        result: lora_page(page, PAGE_SIZE, total),
    });
    app.shared.info = None;
    app
}

#[test]
fn submit_screen_on_the_daemon_catalog() {
    for size in SIZES {
        let mut app = with_catalog(app_with_jobs(size, 3));
        app.update(Action::Ui(UiAction::NewJob));
        check("submit_catalog", &app);
    }
}

#[test]
fn models_screen() {
    for size in SIZES {
        let mut app = with_catalog(app_with_jobs(size, 3));
        app.update(Action::Ui(UiAction::GotoModels));
        app.update(Action::Ui(UiAction::Down));
        check("models", &app);
        app.update(Action::Ui(UiAction::PickNext));
        app.update(Action::Ui(UiAction::PickNext));
        check("models_tripo", &app);
        app.update(Action::Ui(UiAction::ToggleView));
        check("models_tree", &app);
    }
}

#[test]
fn models_screen_before_the_catalog() {
    for size in SIZES {
        let mut app = app_with_jobs(size, 3);
        app.update(Action::Ui(UiAction::GotoModels));
        check("models_loading", &app);
    }
}

#[test]
fn loras_screen_cards_marks_and_dead_covers() {
    for size in SIZES {
        let mut app = gallery(size, 500);
        // Card 6 has a dead cover; mark two and select the dead one.
        app.update(Action::Ui(UiAction::MarkLora));
        app.update(Action::Ui(UiAction::PickNext));
        app.update(Action::Ui(UiAction::MarkLora));
        app.gallery.selected = 6;
        app.update(Action::Ui(UiAction::Down));
        app.update(Action::Ui(UiAction::Up));
        app.shared.info = None;
        check("loras", &app);
    }
}

#[test]
fn loras_screen_loading_and_searching() {
    for size in SIZES {
        let mut app = with_catalog(app_with_jobs(size, 3));
        app.update(Action::Ui(UiAction::GotoLoras));
        check("loras_loading", &app);
        let mut app = gallery(size, 500);
        app.update(Action::Ui(UiAction::Search));
        app.gallery.search.input = Some("ink wash".into());
        check("loras_search", &app);
    }
}

#[test]
fn loras_screen_with_fewer_results_than_asked() {
    for size in SIZES {
        let mut app = gallery(size, 3);
        app.update(Action::Ui(UiAction::FilterBase));
        let generation = app.gallery.generation;
        app.update(Action::LorasLoaded {
            generation,
            page: 1,
            covers: false,
            result: lora_page(1, PAGE_SIZE, 3),
        });
        check("loras_fewer", &app);
        let generation = app.gallery.generation;
        app.update(Action::Ui(UiAction::Search));
        app.gallery.search.input = Some("nothing like this".into());
        app.update(Action::Ui(UiAction::SearchApply));
        app.update(Action::LorasLoaded {
            generation: generation + 1,
            page: 1,
            covers: false,
            result: lora_page(1, PAGE_SIZE, 0),
        });
        check("loras_none", &app);
    }
}

#[test]
fn loras_screen_errors() {
    let cases = [
        (
            "loras_no_network",
            ErrorKind::Network,
            "cannot reach the LoRA catalog at https://modelscope.cn: connection refused; check the network and retry",
        ),
        (
            "loras_auth",
            ErrorKind::Auth,
            "the LoRA catalog refused the request (401); set a ModelScope key (providers.modelscope in config.toml or MODELSCOPE_API_TOKEN)",
        ),
        ("loras_timeout", ErrorKind::Timeout, "no answer within 10 s"),
    ];
    for size in SIZES {
        for (name, kind, message) in cases {
            let mut app = with_catalog(app_with_jobs(size, 3));
            let cmds = app.update(Action::Ui(UiAction::GotoLoras));
            let (generation, page) = first_fetch(&cmds);
            app.update(Action::LorasFailed {
                generation,
                page,
                covers: false,
                error: CallError {
                    kind: Some(kind),
                    ..CallError::local(message)
                },
            });
            check(name, &app);
        }
    }
}

#[test]
fn detail_screen_lists_the_loras_used() {
    for size in SIZES {
        let mut app = with_catalog(app_with_jobs(size, 3));
        let mut job = job(2, JobState::Succeeded);
        job.params.loras = vec![
            Lora {
                repo: "author1/lora-7".into(),
                weight: 0.6,
            },
            Lora {
                repo: "author0/lora-3".into(),
                weight: 0.4,
            },
        ];
        app.jobs.rows.insert(0, job.clone());
        app.jobs.selected = 0;
        app.update(Action::Ui(UiAction::Open));
        app.update(Action::LoraCardLoaded(card(7)));
        app.update(Action::Ui(UiAction::Bottom));
        check("detail_loras", &app);
    }
}

#[test]
fn help_for_the_loras_and_models_screens() {
    for size in SIZES {
        let mut app = gallery(size, 10);
        app.update(Action::Ui(UiAction::Help));
        check("help_loras", &app);
        app.update(Action::Ui(UiAction::Back));
        app.update(Action::Ui(UiAction::GotoModels));
        app.update(Action::Ui(UiAction::Help));
        check("help_models", &app);
    }
}

#[test]
fn catalog_screens_never_panic_at_odd_sizes() {
    for (w, h) in [(1, 1), (10, 3), (20, 5), (59, 14), (300, 80)] {
        let mut app = gallery((w, h), 5000);
        render(&app);
        app.update(Action::Ui(UiAction::Bottom));
        render(&app);
        app.update(Action::Ui(UiAction::GotoModels));
        render(&app);
        app.update(Action::Ui(UiAction::ToggleView));
        render(&app);
    }
}

#[test]
fn loras_screen_with_a_halfblocks_cover() {
    let mut app = gallery((100, 30), 500);
    app.shared.previews = true;
    let (_, _, card_w, _) = screens::loras::grid(app.shared.size);
    let (cols, rows) = screens::loras::cover_size(card_w);
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(120, 40, |x, y| {
        image::Rgb([(x * 2) as u8, (y * 6) as u8, 90])
    }));
    let proto = ratatui_image::picker::Picker::halfblocks()
        .new_protocol(
            img,
            ratatui::layout::Size::new(cols, rows),
            ratatui_image::Resize::Fit(None),
        )
        .unwrap();
    app.gallery.cover_ready(
        "author0/lora-0".into(),
        crate::tui::screens::loras::CoverState::Ready(proto),
    );
    check("loras_cover", &app);
}
