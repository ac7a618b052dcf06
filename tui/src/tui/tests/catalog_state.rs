//! The catalog in the submit form, the models screen's cursor, the LoRA gallery's search,
//! filter, sort and paging, Selection → Generate, and the job → LoRA links: key sequences
//! and daemon replies → state and commands.

use super::catalog_fixtures::*;
use super::fixtures::*;
use crate::tui::action::{Action, CallError, UiAction};
use crate::tui::app::App;
use crate::tui::command::Command;
use crate::tui::keymap::Context;
use crate::tui::screens::detail::LoraLookup;
use crate::tui::screens::loras::{GalleryError, PAGE_SIZE};
use crate::tui::screens::submit::Field;
use crate::tui::screens::tabs::Screen;
use crossterm::event::{KeyCode, MouseButton};
use genq_protocol::catalog::{LoraSort, LoraSource, LorasListParams};
use genq_protocol::{ErrorKind, JobKind, JobState, Lora};

fn lora_fetches(cmds: &[Command]) -> Vec<(u64, LorasListParams)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::FetchLoras { generation, params } => Some((*generation, params.clone())),
            _ => None,
        })
        .collect()
}

/// Answers every listing in `cmds` from a source of `total` cards.
fn answer(app: &mut App, cmds: Vec<Command>, total: u32) -> Vec<Command> {
    let mut next = Vec::new();
    for (generation, params) in lora_fetches(&cmds) {
        let page = params.page.unwrap_or(1);
        next.extend(app.update(Action::LorasLoaded {
            generation,
            page,
            covers: params.download_covers,
            result: lora_page(page, params.limit.unwrap_or(PAGE_SIZE), total),
        }));
    }
    next
}

/// The app on the LoRAs screen with the first page of `total` cards.
fn gallery_app(size: (u16, u16), total: u32) -> App {
    let mut app = with_catalog(app_with_jobs(size, 3));
    let cmds = app.key(key('5'));
    answer(&mut app, cmds, total);
    app
}

#[test]
fn connecting_fetches_the_catalog_and_the_form_follows_it() {
    let mut app = App::new((100, 30), at(0));
    let cmds = app.update(Action::Connected {
        version: "0.1.0".into(),
    });
    assert!(cmds.contains(&Command::FetchCatalog));
    // Until the catalog arrives the built-in list is offered.
    assert!(!app.form.choices.from_daemon);
    assert_eq!(app.form.provider_name(), "modelscope");
    assert_eq!(app.form.model_name(), "Qwen/Qwen-Image");

    app.update(Action::CatalogLoaded(Box::new(catalog())));
    assert!(app.form.choices.from_daemon);
    // The default text-to-image model is pre-selected.
    assert_eq!(app.form.model_name(), "Tongyi-MAI/Z-Image-Turbo");
    let providers: Vec<&str> = app
        .form
        .choices
        .providers
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    // The inactive supplier and the removed model are not offered.
    assert_eq!(providers, ["modelscope", "dashscope", "tripo"]);
    assert_eq!(app.form.choices.providers[0].models.len(), 2);

    // A reconnect fetches it again.
    app.update(Action::Disconnected {
        reason: "lost".into(),
    });
    let cmds = app.update(Action::Connected {
        version: "0.1.0".into(),
    });
    assert!(cmds.contains(&Command::FetchCatalog));
}

#[test]
fn a_daemon_without_a_catalog_keeps_the_built_in_list() {
    let mut app = app_with_jobs((100, 30), 3);
    app.update(Action::CatalogLoaded(Box::default()));
    assert!(!app.form.choices.from_daemon);
    assert_eq!(app.form.choices.providers.len(), 3);
    app.update(Action::CatalogFailed(CallError {
        kind: Some(ErrorKind::MethodNotFound),
        ..CallError::local("no such method models.list")
    }));
    assert!(!app.form.choices.from_daemon);
    assert_eq!(app.form.provider_name(), "modelscope");
}

#[test]
fn validation_uses_the_catalog_ranges_of_the_selected_model() {
    let mut app = with_catalog(app_with_jobs((100, 30), 3));
    app.key(key('n'));
    typed(&mut app, "a castle");
    app.form.set_text(Field::Size, "1800x1800");
    app.form.set_text(Field::Steps, "80");
    app.key(ctrl('s'));
    // Z-Image takes sides up to 2048 but steps only to 50 in this catalog.
    assert!(!app.form.errors.contains_key(&Field::Size));
    assert_eq!(app.form.errors[&Field::Steps], "a whole number 1–50");

    // Qwen-Image: sides up to 1664.
    app.form.focus = Field::Model;
    app.key(code(KeyCode::Left));
    assert_eq!(app.form.model_name(), "Qwen/Qwen-Image");
    app.key(ctrl('s'));
    assert_eq!(app.form.errors[&Field::Size], "each side 256–1664");

    // DashScope: an area rule and a count up to 4; no steps.
    app.form.focus = Field::Provider;
    app.key(code(KeyCode::Right));
    assert_eq!(app.form.provider_name(), "dashscope");
    app.form.set_text(Field::Size, "300x300");
    app.form.set_text(Field::Steps, "");
    app.form.set_text(Field::Count, "5");
    app.key(ctrl('s'));
    assert_eq!(
        app.form.errors[&Field::Size],
        "width × height 262144–2073600 pixels"
    );
    assert_eq!(app.form.errors[&Field::Count], "a whole number 1–4");
    app.form.set_text(Field::Size, "2000x500");
    app.key(ctrl('s'));
    assert!(
        !app.form.errors.contains_key(&Field::Size),
        "{:?}",
        app.form.errors
    );

    // Tripo: a 3D model, so the spec says so.
    app.form.focus = Field::Provider;
    app.key(code(KeyCode::Right));
    app.form.set_text(Field::Size, "");
    app.form.set_text(Field::Count, "");
    let cmds = app.key(ctrl('s'));
    let Some(Command::Submit(spec)) = cmds.first() else {
        panic!("no submit: {:?}", app.form.errors);
    };
    assert_eq!(spec.provider, "tripo");
    assert_eq!(spec.kind, Some(JobKind::Model3d));
    assert_eq!(spec.model.as_deref(), Some("v2.5-20250123"));
}

#[test]
fn a_choice_made_before_the_catalog_arrives_is_kept() {
    let mut app = app_with_jobs((100, 30), 3);
    app.key(key('n'));
    app.form.focus = Field::Provider;
    app.key(code(KeyCode::Right));
    assert_eq!(app.form.provider_name(), "dashscope");
    app.update(Action::CatalogLoaded(Box::new(catalog())));
    assert_eq!(app.form.provider_name(), "dashscope");
    assert_eq!(app.form.model_name(), "wan2.2-t2i-flash");
}

#[test]
fn models_screen_moves_between_suppliers_and_models_and_opens_a_job_with_one() {
    let mut app = with_catalog(app_with_jobs((100, 30), 3));
    app.key(key('4'));
    assert_eq!(app.screen, Screen::Models);
    assert_eq!(app.context(), Context::Models);
    assert_eq!(
        app.models.supplier_models().len(),
        3,
        "removed models are listed"
    );
    app.key(key('j'));
    assert_eq!(
        app.models.selected_model().unwrap().id,
        "Tongyi-MAI/Z-Image-Turbo"
    );
    app.key(key('l'));
    assert_eq!(app.models.model, 0);
    assert_eq!(app.models.selected_model().unwrap().supplier, "dashscope");
    app.key(key('l'));
    app.key(key('l'));
    // The inactive supplier is listed, with no models.
    assert!(app.models.selected_model().is_none());
    app.key(key('h'));
    assert_eq!(app.models.selected_model().unwrap().supplier, "tripo");
    app.key(key('v'));
    assert!(app.models.tree);
    app.key(key('v'));
    app.key(key('n'));
    assert_eq!(app.screen, Screen::Submit);
    assert_eq!(app.form.provider_name(), "tripo");
    assert_eq!(app.form.model_name(), "v2.5-20250123");
    // Next screen from submit reaches models, then LoRAs (Tab moves fields in the form).
    app.update(Action::Ui(UiAction::NextScreen));
    assert_eq!(app.screen, Screen::Models);
    app.update(Action::Ui(UiAction::NextScreen));
    assert_eq!(app.screen, Screen::Loras);
}

#[test]
fn the_gallery_fetches_its_first_page_when_first_shown() {
    let mut app = with_catalog(app_with_jobs((100, 30), 3));
    let cmds = app.key(key('5'));
    assert_eq!(app.screen, Screen::Loras);
    let fetches = lora_fetches(&cmds);
    assert_eq!(fetches.len(), 1, "{cmds:?}");
    let p = &fetches[0].1;
    assert_eq!(p.page, Some(1));
    assert_eq!(p.limit, Some(PAGE_SIZE));
    assert_eq!(p.sort, LoraSort::Downloads);
    assert!(!p.download_covers);
    assert!(app.needs_tick(), "the loading indicator moves");
    // Leaving and coming back does not fetch again.
    app.key(key('1'));
    assert!(lora_fetches(&app.key(key('5'))).is_empty());
}

#[test]
fn search_filter_and_sort_go_to_the_daemon_and_restart_from_the_top() {
    let mut app = gallery_app((100, 30), 500);
    app.key(key('l'));
    app.key(key('j'));
    assert_eq!(app.gallery.selected, 5);
    app.key(key('/'));
    assert_eq!(app.context(), Context::Search);
    typed(&mut app, "ink gqb");
    app.key(code(KeyCode::Backspace));
    let cmds = app.key(code(KeyCode::Enter));
    let (generation, p) = lora_fetches(&cmds).remove(0);
    assert_eq!(p.keyword.as_deref(), Some("ink gq"));
    assert_eq!(p.page, Some(1));
    assert_eq!(app.gallery.selected, 0);
    assert!(app.gallery.pages.is_empty());

    let cmds = app.key(key('f'));
    let (_, p) = lora_fetches(&cmds).remove(0);
    assert_eq!(p.base.as_deref(), Some("QWEN_IMAGE_2512"));
    assert_eq!(p.keyword.as_deref(), Some("ink gq"));
    let cmds = app.key(key('s'));
    let (newest, p) = lora_fetches(&cmds).remove(0);
    assert_eq!(p.sort, LoraSort::Newest);

    // A late reply for the old search is dropped.
    app.update(Action::LorasLoaded {
        generation,
        page: 1,
        covers: false,
        result: lora_page(1, PAGE_SIZE, 500),
    });
    assert!(app.gallery.pages.is_empty());
    answer(&mut app, cmds, 500);
    assert_eq!(app.gallery.pages.len(), 1);
    assert_eq!(app.gallery.generation, newest);

    // Esc clears the search and lists again.
    let cmds = app.key(code(KeyCode::Esc));
    assert_eq!(lora_fetches(&cmds)[0].1.keyword, None);
    assert_eq!(app.screen, Screen::Loras);
}

#[test]
fn the_source_switch_lists_civitai_and_hugging_face_whose_cards_cannot_be_marked() {
    let mut app = gallery_app((100, 30), 500);
    app.key(key('f'));
    let cmds = app.key(key('S'));
    let (_, p) = lora_fetches(&cmds).remove(0);
    assert_eq!(p.source, LoraSource::Civitai);
    // The base filter starts over with the source's own values.
    assert_eq!(p.base, None);
    let cmds = app.key(key('f'));
    let (_, p) = lora_fetches(&cmds).remove(0);
    assert_eq!(p.base.as_deref(), Some("Qwen"));
    // A Civitai card is for browsing: marking it says why not.
    let mut page = lora_page(1, PAGE_SIZE, 500);
    for c in &mut page.cards {
        c.source = "civitai".into();
    }
    let generation = app.gallery.generation;
    app.update(Action::LorasLoaded {
        generation,
        page: 1,
        covers: false,
        result: page,
    });
    app.key(key(' '));
    assert!(app.gallery.marked.is_empty());
    assert!(
        app.shared
            .info
            .as_deref()
            .is_some_and(|i| i.contains("Civitai LoRAs are for browsing")),
        "{:?}",
        app.shared.info
    );
    let cmds = app.key(key('S'));
    assert_eq!(lora_fetches(&cmds)[0].1.source, LoraSource::Huggingface);
    let cmds = app.key(key('S'));
    assert_eq!(lora_fetches(&cmds)[0].1.source, LoraSource::Modelscope);
    // A refused key is explained for the source it came from.
    let err = GalleryError::Auth("set HF_TOKEN in the daemon's environment".into());
    let (head, detail) = err.explain(LoraSource::Huggingface);
    assert!(!head.contains("ModelScope"), "{head}");
    assert!(detail.contains("HF_TOKEN"), "{detail}");
}

#[test]
fn paging_fetches_only_what_the_screen_nears_even_with_thousands_of_cards() {
    let mut app = gallery_app((100, 30), 5000);
    let (cols, rows, ..) = crate::tui::screens::loras::grid(app.shared.size);
    assert_eq!(app.gallery.pages.len(), 1);
    assert_eq!(app.gallery.len(), 5000);
    // Moving within the first page fetches nothing.
    for _ in 0..(rows - 1) {
        assert!(lora_fetches(&app.key(key('j'))).is_empty());
    }
    // Far down: only the pages around the new position are asked for.
    let cmds = app.key(code(KeyCode::End));
    assert_eq!(app.gallery.selected, 4999);
    let pages: Vec<u32> = lora_fetches(&cmds)
        .iter()
        .map(|(_, p)| p.page.unwrap())
        .collect();
    assert_eq!(pages, [167], "cols {cols} rows {rows}");
    answer(&mut app, cmds, 5000);
    assert_eq!(app.gallery.card(4999).unwrap().id, "author1/lora-4999");
    // Moving back a screenful needs no page twice.
    let cmds = app.key(code(KeyCode::PageUp));
    assert!(lora_fetches(&cmds).is_empty(), "{cmds:?}");
    assert_eq!(app.gallery.pages.len(), 2);
}

#[test]
fn growing_the_terminal_fetches_the_cards_that_now_fit() {
    let mut app = gallery_app((60, 15), 5000);
    assert_eq!(app.gallery.pages.len(), 1);
    let cmds = app.update(Action::Resize(300, 80));
    let pages: Vec<u32> = lora_fetches(&cmds)
        .iter()
        .map(|(_, p)| p.page.unwrap())
        .collect();
    // 12 × 9 cards on screen and as many again ahead: pages 2 to 8.
    assert_eq!(pages, (2..=8).collect::<Vec<u32>>());
}

#[test]
fn fewer_results_than_asked_is_said_and_ends_the_list() {
    let app = gallery_app((100, 30), 7);
    assert_eq!(app.gallery.len(), 7);
    assert_eq!(app.gallery.end, Some(7));
    let info = app.shared.info.clone().unwrap();
    assert!(info.contains("fewer results than asked"), "{info}");
    assert!(info.contains("7 LoRAs"), "{info}");
}

#[test]
fn catalog_errors_are_explained_by_kind_and_ctrl_r_retries_without_the_cache() {
    let mut app = with_catalog(app_with_jobs((100, 30), 3));
    let cmds = app.key(key('5'));
    let (generation, _) = lora_fetches(&cmds).remove(0);
    for (kind, expect) in [
        (ErrorKind::Network, "No network"),
        (ErrorKind::Auth, "genq auth set modelscope"),
        (ErrorKind::Timeout, "within 10 s"),
    ] {
        let generation = app.gallery.generation;
        app.update(Action::LorasFailed {
            generation,
            page: 1,
            covers: false,
            error: CallError {
                kind: Some(kind),
                ..CallError::local("the catalog said no")
            },
        });
        let err = app.gallery.error.clone().unwrap();
        let (head, detail) = err.explain(genq_protocol::catalog::LoraSource::Modelscope);
        assert!(
            format!("{head} {detail}").contains(expect),
            "{kind:?}: {head} {detail}"
        );
        let cmds = app.key(ctrl('r'));
        let fetches = lora_fetches(&cmds);
        assert_eq!(fetches.len(), 1, "Ctrl-R retries: {cmds:?}");
        assert!(app.gallery.error.is_none());
    }
    assert!(generation < app.gallery.generation);
    // Once cards are shown, Ctrl-R asks the same pages again, past the daemon's cache.
    let cmds = app.key(ctrl('r'));
    answer(&mut app, cmds, 100);
    let cmds = app.key(ctrl('r'));
    let fetches = lora_fetches(&cmds);
    assert_eq!(fetches.len(), 1);
    assert!(fetches[0].1.force_refresh);
    let _ = GalleryError::Other(String::new());
}

#[test]
fn marking_stops_at_six_and_generate_opens_a_compatible_submit_with_weights_summing_to_one() {
    let mut app = gallery_app((100, 30), 100);
    // Cards 0, 1, 2, 3, 5, 6, 7 are Qwen-Image LoRAs (every fifth is Z-Image).
    for i in [0u64, 1, 2, 3, 5, 6] {
        app.gallery.selected = i;
        app.key(key(' '));
    }
    assert_eq!(app.gallery.marked.len(), 6);
    app.gallery.selected = 7;
    app.key(key(' '));
    assert_eq!(app.gallery.marked.len(), 6, "a seventh is refused");
    assert!(app.shared.info.as_deref().unwrap().contains("at most 6"));
    // Space on a marked card unmarks it; marking another works again.
    app.gallery.selected = 6;
    app.key(key(' '));
    app.gallery.selected = 7;
    app.key(key(' '));
    let marked: Vec<&str> = app.gallery.marked.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        marked,
        [
            "author0/lora-0",
            "author1/lora-1",
            "author2/lora-2",
            "author0/lora-3",
            "author2/lora-5",
            "author1/lora-7"
        ]
    );

    app.key(key('n'));
    assert_eq!(app.screen, Screen::Submit);
    assert_eq!(app.form.provider_name(), "modelscope");
    assert_eq!(app.form.model_name(), "Qwen/Qwen-Image");
    assert_eq!(app.form.focus, Field::Prompt);
    assert!(app.form.text(Field::Prompt).starts_with("lr_style"));
    let loras = crate::tui::screens::submit::parse_loras(&app.form.text(Field::Loras)).unwrap();
    assert_eq!(loras.len(), 6);
    assert_eq!(loras[0].repo, "author0/lora-0");
    let sum: f64 = loras.iter().map(|l| l.weight).sum();
    assert!((sum - 1.0).abs() < 1e-9, "weights sum to {sum}");
    typed(&mut app, "a harbour at dawn");
    let cmds = app.key(ctrl('s'));
    let Some(Command::Submit(spec)) = cmds.first() else {
        panic!("not submitted: {:?}", app.form.errors);
    };
    assert_eq!(spec.loras.len(), 6);
    assert_eq!(spec.model.as_deref(), Some("Qwen/Qwen-Image"));
}

#[test]
fn generate_refuses_loras_no_model_takes_together() {
    let mut app = gallery_app((100, 30), 100);
    for i in [0u64, 4] {
        app.gallery.selected = i;
        app.key(key(' '));
    }
    app.key(key('n'));
    assert_eq!(app.screen, Screen::Loras);
    let info = app.shared.info.clone().unwrap();
    assert!(info.contains("qwen-image, z-image"), "{info}");
    // A Z-Image LoRA alone goes to Z-Image.
    app.gallery.marked.clear();
    app.gallery.selected = 4;
    app.key(key('n'));
    assert_eq!(app.form.model_name(), "Tongyi-MAI/Z-Image-Turbo");
    assert_eq!(app.form.text(Field::Loras), "author1/lora-4:1");
}

#[test]
fn a_finished_job_links_back_to_its_loras() {
    let mut app = with_catalog(app_with_jobs((100, 30), 3));
    let mut job = job(2, JobState::Succeeded);
    job.params.loras = vec![
        Lora {
            repo: "author1/lora-7".into(),
            weight: 0.5,
        },
        Lora {
            repo: "author0/lora-3".into(),
            weight: 0.5,
        },
    ];
    app.jobs.rows.insert(0, job.clone());
    app.jobs.selected = 0;
    let cmds = app.update(Action::Ui(UiAction::Open));
    assert!(cmds.contains(&Command::FetchLoraCard("author1/lora-7".into())));
    assert!(cmds.contains(&Command::FetchLoraCard("author0/lora-3".into())));
    // Cached: loading the job again asks nothing more.
    let cmds = app.update(Action::JobLoaded(job.clone()));
    assert!(!cmds.iter().any(|c| matches!(c, Command::FetchLoraCard(_))));
    app.update(Action::LoraCardLoaded(card(7)));
    assert!(matches!(
        app.detail.lora_cards.get("author1/lora-7"),
        Some(LoraLookup::Found(_))
    ));

    // l moves to the second LoRA, L opens the gallery searching for it.
    app.key(key('l'));
    assert_eq!(app.detail.lora_repo(), Some("author0/lora-3"));
    let cmds = app.key(key('L'));
    assert_eq!(app.screen, Screen::Loras);
    let (_, p) = lora_fetches(&cmds).remove(0);
    assert_eq!(p.keyword.as_deref(), Some("lora-3"));
    answer(&mut app, cmds, 30);
    assert_eq!(app.gallery.selected_card().unwrap().id, "author0/lora-3");
}

#[test]
fn clicks_select_tabs_rows_and_cards() {
    let mut app = with_catalog(app_with_jobs((100, 30), 120));
    // " 4 Models " starts after "genq " and three tabs.
    let col = 5 + 8 + 10 + 10 + 2;
    app.update(Action::Click { col, row: 0 });
    assert_eq!(app.screen, Screen::Models);
    app.update(Action::Click { col: 0, row: 0 });
    assert_eq!(app.screen, Screen::Models, "the name is no tab");
    app.update(Action::Click { col: 6, row: 0 });
    assert_eq!(app.screen, Screen::Jobs);
    app.update(Action::Click { col: 30, row: 7 });
    assert_eq!(app.jobs.selected, 4);

    let mut app = gallery_app((100, 30), 100);
    let (_, _, card_w, card_h) = crate::tui::screens::loras::grid(app.shared.size);
    app.update(Action::Click {
        col: card_w * 2 + 3,
        row: crate::tui::screens::loras::GRID_TOP + card_h + 2,
    });
    let (cols, ..) = crate::tui::screens::loras::grid(app.shared.size);
    assert_eq!(app.gallery.selected, u64::from(cols) + 2);
    let _ = MouseButton::Left;
}

#[test]
fn help_lists_the_new_screens_keys() {
    let mut app = gallery_app((100, 30), 10);
    app.key(key('?'));
    let keys: Vec<String> = app
        .shared
        .keymap
        .bindings(Context::Loras)
        .map(|b| b.description.to_string())
        .collect();
    assert!(keys.iter().any(|d| d.contains("mark")));
    assert!(keys.iter().any(|d| d.contains("new job with the marked")));
    assert_eq!(app.help_for, Screen::Loras);
}

#[test]
fn covers_are_downloaded_after_the_cards_and_encoded_for_visible_live_ones_once() {
    let mut app = with_catalog(app_with_jobs((100, 30), 3));
    app.shared.previews = true;
    let cmds = app.key(key('5'));
    let (generation, _) = lora_fetches(&cmds).remove(0);
    let mut bare = lora_page(1, PAGE_SIZE, 500);
    for c in &mut bare.cards {
        c.cover_local = None;
    }
    let cmds = app.update(Action::LorasLoaded {
        generation,
        page: 1,
        covers: false,
        result: bare,
    });
    let fetches = lora_fetches(&cmds);
    assert_eq!(fetches.len(), 1, "{cmds:?}");
    assert!(fetches[0].1.download_covers);
    assert!(
        !app.gallery.loading.contains(&1),
        "cards are shown meanwhile"
    );

    let cmds = app.update(Action::LorasLoaded {
        generation,
        page: 1,
        covers: true,
        result: lora_page(1, PAGE_SIZE, 500),
    });
    let loads: Vec<&str> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::LoadCover { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    // 4 × 3 cards on screen; card 6's cover is dead and gets the placeholder instead.
    assert_eq!(loads.len(), 11, "{loads:?}");
    assert!(!loads.contains(&"author0/lora-6"));
    // Moving on screen asks for nothing twice.
    let cmds = app.key(key('l'));
    assert!(!cmds.iter().any(|c| matches!(c, Command::LoadCover { .. })));
    app.update(Action::CoverReady(crate::tui::preview::Cover {
        id: "author0/lora-0".into(),
        result: Err("cannot decode".into()),
    }));
    assert!(matches!(
        app.gallery.covers.get("author0/lora-0"),
        Some(crate::tui::screens::loras::CoverState::Missing)
    ));
}

#[test]
fn a_listing_cut_off_by_a_lost_connection_is_asked_again_on_reconnect() {
    let mut app = with_catalog(app_with_jobs((100, 30), 3));
    app.key(key('5'));
    assert!(app.gallery.loading.contains(&1));
    app.update(Action::Disconnected {
        reason: "lost".into(),
    });
    let cmds = app.update(Action::Connected {
        version: "0.1.0".into(),
    });
    let fetches = lora_fetches(&cmds);
    assert_eq!(fetches.len(), 1, "{cmds:?}");
    assert_eq!(fetches[0].1.page, Some(1));
    // Listings that finished need nothing on reconnect.
    answer(&mut app, cmds, 100);
    let cmds = app.update(Action::Connected {
        version: "0.1.0".into(),
    });
    assert!(lora_fetches(&cmds).is_empty());
}
