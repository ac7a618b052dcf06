//! The daily loop: moving between screens without losing a draft, one meaning per key, the
//! form that sends everything the CLI can and checks as it is typed, the live job search,
//! a LoRA's details, the message log, reconnects, and the first run without a key.

use super::catalog_fixtures::*;
use super::fixtures::*;
use crate::tui::action::{Action, CallError, UiAction};
use crate::tui::app::App;
use crate::tui::command::Command;
use crate::tui::keymap::{Context, Keymap};
use crate::tui::screens::loras::PAGE_SIZE;
use crate::tui::screens::submit::Field;
use crate::tui::screens::tabs::Screen;
use crossterm::event::KeyCode;
use genq_protocol::methods::ProviderInfo;
use genq_protocol::{JobKind, JobSpec};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;
use std::collections::BTreeMap;

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

fn search_text(cmds: &[Command]) -> Option<Option<String>> {
    cmds.iter().find_map(|c| match c {
        Command::FetchPage { params, .. } => Some(params.text.clone()),
        _ => None,
    })
}

/// The LoRAs screen with the first page of cards.
fn gallery(size: (u16, u16)) -> App {
    let mut app = with_catalog(app_with_jobs(size, 3));
    app.key(key('5'));
    let generation = app.gallery.generation;
    app.update(Action::LorasLoaded {
        generation,
        page: 1,
        covers: false,
        result: lora_page(1, PAGE_SIZE, 40),
    });
    app
}

/// A 3D re-run with every input `genq submit` can send.
fn full_spec() -> JobSpec {
    JobSpec {
        provider: "tripo".into(),
        kind: Some(JobKind::Model3d),
        model: Some("v2.5-20250123".into()),
        prompt: "a ceramic fox".into(),
        image: Some("https://img.example.invalid/fox.png".into()),
        views: BTreeMap::from([
            ("front".to_string(), "/data/front.png".to_string()),
            (
                "left".to_string(),
                "https://img.example.invalid/left.png".to_string(),
            ),
        ]),
        params: BTreeMap::from([
            ("texture_quality".to_string(), json!("detailed")),
            ("face_limit".to_string(), json!(5000)),
            ("pbr".to_string(), json!(true)),
            ("label".to_string(), json!("42")),
        ]),
        store: Some(vec!["cos".into(), "r2".into()]),
        n: Some(1),
        ..JobSpec::default()
    }
}

fn provider(name: &str, has_key: bool) -> ProviderInfo {
    serde_json::from_value(json!({
        "name": name, "base_url": "http://127.0.0.1:1", "key_source": "none",
        "has_key": has_key, "max_concurrent": 1, "requests_per_second": 1.0, "timeout_s": 30,
        "in_flight": 0, "queued": 0
    }))
    .unwrap()
}

#[test]
fn tab_leaves_the_form_and_comes_back_to_the_same_draft() {
    let mut app = app_with_jobs((100, 30), 3);
    app.key(key('n'));
    typed(&mut app, "a quiet harbour");
    app.key(code(KeyCode::Tab));
    assert_eq!(app.screen, Screen::Models, "Tab leaves the form");
    app.key(code(KeyCode::Tab));
    assert_eq!(app.screen, Screen::Loras);
    app.key(code(KeyCode::Tab));
    assert_eq!(app.screen, Screen::Jobs);
    app.key(code(KeyCode::Tab));
    assert_eq!(app.screen, Screen::Detail, "the selected job opens");
    app.key(code(KeyCode::Tab));
    assert_eq!(app.screen, Screen::Submit);
    assert_eq!(app.form.text(Field::Prompt), "a quiet harbour");
    app.key(code(KeyCode::BackTab));
    assert_eq!(app.screen, Screen::Detail, "Shift-Tab goes back");
    app.key(code(KeyCode::BackTab));
    assert_eq!(app.screen, Screen::Jobs);
    app.key(code(KeyCode::BackTab));
    assert_eq!(app.screen, Screen::Loras);
}

#[test]
fn up_and_down_leave_a_multiline_field_only_from_its_edges() {
    let mut app = app_with_jobs((100, 30), 3);
    app.key(key('n'));
    typed(&mut app, "first");
    app.key(code(KeyCode::Enter));
    typed(&mut app, "second");
    app.key(code(KeyCode::Up));
    assert_eq!(app.form.focus, Field::Prompt, "Up moves inside the prompt");
    app.key(code(KeyCode::Up));
    assert_eq!(app.form.focus, Field::Model);
    app.key(code(KeyCode::Down));
    assert_eq!(app.form.focus, Field::Prompt);
    app.key(code(KeyCode::Down));
    assert_eq!(
        app.form.focus,
        Field::Prompt,
        "Down moves inside the prompt"
    );
    app.key(code(KeyCode::Down));
    assert_eq!(app.form.focus, Field::Negative);
    assert_eq!(app.form.text(Field::Prompt), "first\nsecond");
}

/// Arrow keys move the selection in lists and the focus in the form: the same meaning.
fn meaning(a: UiAction) -> UiAction {
    match a {
        UiAction::FieldNext => UiAction::Down,
        UiAction::FieldPrev => UiAction::Up,
        UiAction::Generate => UiAction::NewJob,
        other => other,
    }
}

#[test]
fn a_key_means_the_same_on_every_screen() {
    let km = Keymap::default();
    let screens = [
        Context::Global,
        Context::Jobs,
        Context::Detail,
        Context::Submit,
        Context::Models,
        Context::Loras,
        Context::Card,
        Context::Help,
        Context::Messages,
    ];
    let mut seen: Vec<(String, UiAction, Context)> = Vec::new();
    for ctx in screens {
        for b in km.bindings(ctx) {
            let key = b.key.to_string();
            let action = meaning(b.action);
            if let Some((_, other, where_)) =
                seen.iter().find(|(k, a, _)| *k == key && *a != action)
            {
                panic!(
                    "{key} means {:?} in {} but {:?} in {}",
                    other,
                    where_.title(),
                    action,
                    ctx.title()
                );
            }
            seen.push((key, action, ctx));
        }
    }
}

#[test]
fn the_form_checks_each_field_as_it_is_typed() {
    let mut app = app_with_jobs((100, 30), 3);
    app.key(key('n'));
    assert!(app.form.errors.is_empty(), "a fresh form shows no errors");
    while app.form.focus != Field::Steps {
        app.key(code(KeyCode::Down));
    }
    typed(&mut app, "500");
    assert_eq!(app.form.errors[&Field::Steps], "a whole number 1–100");
    assert!(
        !app.form.errors.contains_key(&Field::Prompt),
        "untouched fields wait for a submit"
    );
    app.key(code(KeyCode::Backspace));
    app.key(code(KeyCode::Backspace));
    assert!(!app.form.errors.contains_key(&Field::Steps), "50 is fine");
    // A model change re-checks what was typed.
    app.form.set_text(Field::Size, "");
    app.form.focus = Field::Size;
    typed(&mut app, "2048x2048");
    assert!(!app.form.errors.contains_key(&Field::Size));
    app.form.focus = Field::Provider;
    app.key(code(KeyCode::Right));
    assert_eq!(app.form.provider_name(), "dashscope");
    assert_eq!(app.form.errors[&Field::Size], "each side 512–1440");
}

#[test]
fn the_form_sends_everything_the_cli_can() {
    let mut app = app_with_jobs((100, 30), 3);
    app.key(key('n'));
    typed(&mut app, "a lantern");
    let mut set = |field: Field, text: &str| {
        app.form.focus = field;
        app.update(Action::Paste(text.into()));
    };
    set(Field::Image, "./in.png");
    set(Field::Views, "front=./f.png\nback=https://x.example/b.png");
    set(Field::Params, "sampler=euler\ncfg=3.5\nflags=[1,2]");
    set(Field::Store, "cos, r2");
    let cmds = app.key(ctrl('s'));
    let [Command::Submit(spec)] = cmds.as_slice() else {
        panic!("not submitted: {:?}", app.form.errors);
    };
    assert_eq!(spec.image.as_deref(), Some("./in.png"));
    assert_eq!(spec.views["front"], "./f.png");
    assert_eq!(spec.views["back"], "https://x.example/b.png");
    assert_eq!(spec.params["sampler"], json!("euler"));
    assert_eq!(spec.params["cfg"], json!(3.5));
    assert_eq!(spec.params["flags"], json!([1, 2]));
    assert_eq!(spec.store, Some(vec!["cos".to_string(), "r2".to_string()]));

    // Local only, and lines that cannot be read, named by field and line.
    app.form.sending = false;
    app.form.set_text(Field::Store, "none");
    app.form.set_text(Field::Params, "ok=1\nnovalue");
    app.form.set_text(Field::Views, "front");
    assert!(app.key(ctrl('s')).is_empty());
    assert!(app.form.errors[&Field::Params].starts_with("line 2: "));
    assert!(app.form.errors[&Field::Views].contains("NAME=PATH"));
    app.form.set_text(Field::Params, "");
    app.form.set_text(Field::Views, "");
    let cmds = app.key(ctrl('s'));
    let [Command::Submit(spec)] = cmds.as_slice() else {
        panic!("not submitted: {:?}", app.form.errors);
    };
    assert_eq!(spec.store, Some(Vec::new()));
}

#[test]
fn rerun_keeps_the_image_views_params_stores_and_count() {
    let mut app = app_with_jobs((100, 30), 3);
    app.key(key('R'));
    app.update(Action::RerunLoaded(full_spec()));
    assert_eq!(app.screen, Screen::Submit);
    let spec = app.form.validate().expect("the re-run form is valid");
    let want = full_spec();
    assert_eq!(spec.image, want.image);
    assert_eq!(spec.views, want.views);
    assert_eq!(
        spec.params, want.params,
        "a text that reads as JSON stays text"
    );
    assert_eq!(spec.store, want.store);
    assert_eq!(spec.n, want.n);
    assert_eq!(spec.provider, "tripo");
    // Local only survives a re-run as well.
    let mut local = full_spec();
    local.store = Some(Vec::new());
    app.update(Action::RerunLoaded(local));
    assert_eq!(app.form.validate().unwrap().store, Some(Vec::new()));
}

#[test]
fn a_missing_local_input_is_refused_next_to_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.png");
    std::fs::write(&file, b"png").unwrap();
    let spec = JobSpec {
        image: Some(file.display().to_string()),
        views: BTreeMap::from([("front".into(), "https://x.example/f.png".into())]),
        ..JobSpec::default()
    };
    let ok = crate::tui::runner::local_inputs(spec.clone()).unwrap();
    assert_eq!(ok, spec);
    // A path under ~ is read as the shell would.
    if let Some(home) = std::env::var_os("HOME").filter(|h| std::path::Path::new(h).is_dir()) {
        let mut tilde = spec.clone();
        tilde.image = Some("~/".into());
        let err = crate::tui::runner::local_inputs(tilde).unwrap_err();
        let home = std::path::Path::new(&home).display().to_string();
        assert!(err.message.contains(&home), "{}", err.message);
    }
    let missing = JobSpec {
        views: BTreeMap::from([("left".into(), "/nowhere/left.png".into())]),
        ..JobSpec::default()
    };
    let err = crate::tui::runner::local_inputs(missing).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("views"));
    assert!(err.message.contains("/nowhere/left.png"), "{}", err.message);
    let mut app = app_with_jobs((100, 30), 3);
    app.key(key('n'));
    app.update(Action::SubmitFailed(err));
    assert_eq!(app.form.focus, Field::Views);
    assert!(app.form.errors[&Field::Views].contains("not a file"));
}

#[test]
fn slash_filters_the_jobs_as_it_is_typed_and_esc_restores_the_last_search() {
    let mut app = app_with_jobs((100, 30), 120);
    app.key(key('/'));
    assert_eq!(search_text(&app.key(key('f'))), Some(Some("f".into())));
    assert_eq!(app.jobs.search.applied, "f");
    assert_eq!(search_text(&app.key(key('o'))), Some(Some("fo".into())));
    assert_eq!(search_text(&app.key(key('x'))), Some(Some("fox".into())));
    // Enter keeps what is shown; nothing is fetched again.
    assert_eq!(search_text(&app.key(code(KeyCode::Enter))), None);
    assert_eq!(app.context(), Context::Jobs);
    assert_eq!(app.jobs.search.applied, "fox");
    // A new search, abandoned with Esc, puts the last one back.
    app.key(key('/'));
    app.key(code(KeyCode::Backspace));
    assert_eq!(app.jobs.search.applied, "fo");
    let cmds = app.key(code(KeyCode::Esc));
    assert_eq!(search_text(&cmds), Some(Some("fox".into())));
    assert_eq!(app.jobs.search.applied, "fox");
}

#[test]
fn enter_on_a_lora_card_opens_its_details() {
    let mut app = gallery((100, 30));
    app.key(code(KeyCode::Enter));
    assert_eq!(app.context(), Context::Card);
    let popup = app.lora_popup.as_ref().expect("a popup");
    assert_eq!(popup.card.id, "author0/lora-0");
    let screen = render(&app);
    for text in [
        "Style LoRA number 0",
        "author0",
        "qwen-image (QWEN_IMAGE_2512)",
        "lr_style",
        "https://modelscope.cn/models/author0/lora-0",
        "modelscope:Qwen/Qwen-Image",
    ] {
        assert!(screen.contains(text), "{text} missing:\n{screen}");
    }
    assert_eq!(
        app.key(key('y')),
        vec![Command::Copy(
            "https://modelscope.cn/models/author0/lora-0".into()
        )]
    );
    app.key(code(KeyCode::Esc));
    assert!(app.lora_popup.is_none());
    assert_eq!(app.screen, Screen::Loras);
    // n in the details starts a job with this LoRA.
    app.key(code(KeyCode::Enter));
    app.key(key('n'));
    assert_eq!(app.screen, Screen::Submit);
    assert_eq!(app.form.text(Field::Loras), "author0/lora-0:1");
}

#[test]
fn enter_on_a_jobs_lora_opens_the_same_details() {
    let mut app = with_catalog(app_with_jobs((100, 30), 3));
    let mut job = rich_job();
    job.id = id(3);
    app.jobs.rows[0] = job;
    app.key(code(KeyCode::Enter));
    app.key(code(KeyCode::Enter));
    assert!(app.lora_popup.is_none(), "the card is still loading");
    assert!(
        app.shared
            .info
            .as_deref()
            .unwrap()
            .contains("loading the card")
    );
    let mut c = card(1);
    c.id = "merjic/majicbeauty-qwen1".into();
    app.update(Action::LoraCardLoaded(c));
    app.key(code(KeyCode::Enter));
    assert_eq!(
        app.lora_popup.as_ref().map(|p| p.card.id.as_str()),
        Some("merjic/majicbeauty-qwen1")
    );
}

#[test]
fn a_long_message_can_be_read_in_full_in_the_log() {
    let mut app = app_with_jobs((100, 30), 3);
    let long = format!(
        "the provider refused the request: {} end-of-message",
        "x".repeat(150)
    );
    app.update(Action::CallFailed {
        what: "retry".into(),
        error: CallError::local(long.clone()),
    });
    app.update(Action::Info("submitted job 019a0004".into()));
    let status = render(&app);
    assert!(!status.contains("end-of-message"), "the bar cuts it");
    app.key(key('M'));
    assert_eq!(app.screen, Screen::Messages);
    let screen = render(&app);
    let joined: String = screen
        .lines()
        .map(|l| l.trim_matches('"').trim_matches('│').trim_end())
        .collect();
    assert!(joined.contains("end-of-message"), "{screen}");
    assert!(screen.contains("submitted job 019a0004"), "{screen}");
    app.key(code(KeyCode::Esc));
    assert_eq!(app.screen, Screen::Jobs);
}

#[test]
fn message_log_screen() {
    let mut app = app_with_jobs((100, 30), 3);
    app.update(Action::Info("submitted job 019a0004".into()));
    app.update(Action::CallFailed {
        what: "export".into(),
        error: CallError::local(format!(
            "writing /home/u/{}/genq-019a0004.json: permission denied",
            "deeply/nested/".repeat(8)
        )),
    });
    app.update(Action::Info(
        "copied https://bucket.cos.example.invalid/genq/0.png".into(),
    ));
    app.key(key('M'));
    check("messages", &app);
}

#[test]
fn a_connection_lost_notice_clears_on_reconnect() {
    let mut app = app_with_jobs((100, 30), 3);
    app.update(Action::Disconnected {
        reason: "the connection to the daemon was lost".into(),
    });
    app.update(Action::CallFailed {
        what: "listing jobs".into(),
        error: CallError::local("not connected to the daemon"),
    });
    assert!(render(&app).contains("not connected"));
    app.update(Action::Connected {
        version: "0.1.0".into(),
    });
    assert_eq!(app.shared.last_error, None);
    let status = render(&app);
    let bar = status.lines().last().unwrap();
    assert!(
        !bar.contains("lost") && !bar.contains("not connected"),
        "{bar}"
    );
    assert!(bar.contains("connected to the daemon again"), "{bar}");
    // An error while connected stays.
    app.update(Action::CallFailed {
        what: "retry".into(),
        error: CallError::local("job is not final"),
    });
    app.update(Action::Connected {
        version: "0.1.0".into(),
    });
    assert!(app.shared.last_error.is_some());
}

#[test]
fn n_after_an_abandoned_rerun_opens_a_clean_form() {
    let mut app = app_with_jobs((100, 30), 3);
    app.key(key('R'));
    app.update(Action::RerunLoaded(rich_job().params));
    assert!(app.form.rerun_of.is_some());
    app.key(code(KeyCode::Esc));
    app.key(key('n'));
    assert_eq!(app.screen, Screen::Submit);
    assert_eq!(app.form.rerun_of, None);
    assert_eq!(app.form.text(Field::Prompt), "");
    assert!(
        app.shared.info.as_deref().unwrap().contains("re-run"),
        "{:?}",
        app.shared.info
    );
    // The user's own draft is restored, and the status bar says so.
    typed(&mut app, "my own idea");
    app.key(code(KeyCode::Esc));
    app.key(key('n'));
    assert_eq!(app.form.text(Field::Prompt), "my own idea");
    assert!(
        app.shared
            .info
            .as_deref()
            .unwrap()
            .contains("restoring your draft")
    );
    app.key(ctrl('l'));
    assert_eq!(app.form.text(Field::Prompt), "");
}

#[test]
fn without_any_key_the_jobs_screen_and_the_form_say_how_to_add_one() {
    for size in [(100, 30), (60, 15)] {
        let mut app = app_with_jobs(size, 0);
        app.update(Action::ProvidersLoaded(vec![
            provider("dashscope", false),
            provider("modelscope", false),
            provider("tripo", false),
        ]));
        check("jobs_no_keys", &app);
        assert!(render(&app).contains("genq auth set"));
        app.key(key('n'));
        check("submit_no_key", &app);
        assert!(render(&app).contains("genq auth set modelscope"));
    }
    // With one key the usual empty state shows, and the form warns only for the others.
    let mut app = app_with_jobs((100, 30), 0);
    app.update(Action::ProvidersLoaded(vec![
        provider("dashscope", false),
        provider("modelscope", true),
    ]));
    assert!(render(&app).contains("no jobs yet"));
    app.key(key('n'));
    assert!(!render(&app).contains("genq auth set"));
}

#[test]
fn submit_form_with_every_input() {
    for size in [(100, 30), (60, 15)] {
        let mut app = app_with_jobs(size, 3);
        app.key(key('R'));
        app.update(Action::RerunLoaded(full_spec()));
        app.form.focus = Field::Params;
        check("submit_inputs", &app);
    }
}

#[test]
fn lora_card_popup() {
    for size in [(100, 30), (60, 15)] {
        let mut app = gallery(size);
        app.key(code(KeyCode::Enter));
        check("lora_card", &app);
    }
}

#[test]
fn over_ssh_a_path_of_this_machine_is_refused_and_urls_go_through() {
    let urls = JobSpec {
        image: Some("file:///srv/in.png".into()),
        views: BTreeMap::from([("front".into(), "https://x.example/f.png".into())]),
        ..JobSpec::default()
    };
    assert_eq!(
        crate::tui::runner::remote_inputs(urls.clone()).unwrap(),
        urls
    );
    let mut local = urls.clone();
    local.image = Some("here.png".into());
    let err = crate::tui::runner::remote_inputs(local).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("image"));
    assert!(err.message.contains("file:///PATH"), "{}", err.message);
    let mut view = urls;
    view.views.insert("left".into(), "/home/me/left.png".into());
    let err = crate::tui::runner::remote_inputs(view).unwrap_err();
    assert_eq!(err.field.as_deref(), Some("views"));
    assert!(err.message.starts_with("view left: "), "{}", err.message);
}
