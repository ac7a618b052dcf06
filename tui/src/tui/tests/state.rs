//! Key sequences → actions → state and commands, without a terminal or a daemon.

use super::fixtures::*;
use crate::tui::action::{Action, CallError, UiAction};
use crate::tui::app::App;
use crate::tui::command::Command;
use crate::tui::keymap::{Context, Keymap, KeymapError};
use crate::tui::screens::submit::Field;
use crate::tui::screens::tabs::Screen;
use crossterm::event::KeyCode;
use genq_protocol::methods::{JobPage, Sort};
use genq_protocol::{Event, EventBody, JobState};

fn page_fetch(cmds: &[Command]) -> &genq_protocol::methods::ListParams {
    cmds.iter()
        .find_map(|c| match c {
            Command::FetchPage { params, .. } => Some(params),
            _ => None,
        })
        .expect("a page fetch")
}

fn event(seq: u64, job: u32, body: EventBody) -> Event {
    Event {
        seq,
        job_id: id(job),
        job_num: Some(u64::from(job)),
        at: at(10_000),
        body,
    }
}

#[test]
fn connecting_subscribes_fetches_status_and_the_visible_page_only() {
    let mut app = App::new((100, 30), at(0));
    let cmds = app.update(Action::Connected {
        version: "0.1.0".into(),
    });
    assert!(cmds.contains(&Command::Subscribe { since_seq: None }));
    assert!(cmds.contains(&Command::FetchStatus));
    let params = page_fetch(&cmds);
    assert_eq!(params.limit, Some(app.table_rows() as u32));
    assert_eq!(params.offset, Some(0));
    assert_eq!(params.sort, Sort::Newest);
}

#[test]
fn filter_keys_cycle_states_and_refetch_from_the_top() {
    let mut app = app_with_jobs((100, 30), 120);
    typed(&mut app, "jjj");
    assert_eq!(app.jobs.selected, 3);
    let cmds = app.key(key('f'));
    assert_eq!(app.jobs.selected, 0);
    let params = page_fetch(&cmds);
    assert_eq!(
        params.state,
        vec![
            JobState::Queued,
            JobState::Submitting,
            JobState::Running,
            JobState::Fetching,
            JobState::Storing
        ]
    );
    assert_eq!(params.offset, Some(0));
    app.key(key('f'));
    assert_eq!(page_fetch(&app.key(key('f'))).state, vec![JobState::Failed]);
    assert_eq!(
        page_fetch(&app.key(key('F'))).state,
        vec![JobState::Succeeded]
    );
    assert_eq!(page_fetch(&app.key(key('s'))).sort, Sort::Oldest);
}

#[test]
fn search_prompt_types_text_and_esc_clears_it() {
    let mut app = app_with_jobs((100, 30), 120);
    app.key(key('/'));
    assert_eq!(app.context(), Context::Search);
    // Letters bound elsewhere (q quits, f filters) are typed here.
    typed(&mut app, "fqx");
    app.key(code(KeyCode::Backspace));
    typed(&mut app, "ox");
    assert!(!app.quit);
    assert_eq!(
        app.jobs.search.applied, "fqox",
        "the search follows the typing"
    );
    assert!(app.key(code(KeyCode::Enter)).is_empty());
    assert_eq!(app.jobs.search.applied, "fqox");
    let cmds = app.key(code(KeyCode::Esc));
    assert_eq!(page_fetch(&cmds).text, None);
    assert!(app.jobs.search.applied.is_empty());
}

#[test]
fn moving_past_the_window_fetches_the_next_window_and_stale_pages_are_dropped() {
    let mut app = app_with_jobs((100, 30), 120);
    let rows = app.table_rows() as u64;
    for _ in 0..rows - 1 {
        assert!(app.key(key('j')).is_empty(), "rows on screen need no fetch");
    }
    let cmds = app.key(key('j'));
    assert_eq!(page_fetch(&cmds).offset, Some(1));
    let cmds = app.key(key('G'));
    assert_eq!(app.jobs.selected, 119);
    assert_eq!(page_fetch(&cmds).offset, Some(120 - rows));
    let current = app.jobs.generation;
    // A late reply for the earlier window must not replace the rows.
    app.update(Action::PageLoaded {
        generation: current - 1,
        offset: 1,
        page: JobPage {
            jobs: mixed_jobs(3),
            next_cursor: None,
            total: 3,
        },
    });
    assert_eq!(app.jobs.total, 120);
    app.key(code(KeyCode::PageUp));
    assert_eq!(app.jobs.selected, 119 - rows);
    app.key(key('g'));
    assert_eq!((app.jobs.selected, app.jobs.scroll), (0, 0));
}

#[test]
fn cancel_asks_first_and_only_yes_sends_it() {
    let mut app = app_with_jobs((100, 30), 120);
    assert_eq!(app.jobs.selected_job().unwrap().state, JobState::Running);
    assert!(app.key(key('c')).is_empty());
    assert_eq!(app.context(), Context::Confirm);
    // Keys outside the dialog do nothing while it is open.
    assert!(app.key(key('j')).is_empty());
    assert_eq!(app.jobs.selected, 0);
    assert!(app.key(key('n')).is_empty());
    assert!(app.confirm.is_none());
    app.key(key('c'));
    assert_eq!(app.key(key('y')), vec![Command::Cancel(id(120))]);
    assert!(app.confirm.is_none());
}

#[test]
fn cancel_of_a_finished_job_explains_instead_of_asking() {
    let mut app = app_with_jobs((100, 30), 120);
    typed(&mut app, "jj");
    assert!(app.key(key('c')).is_empty());
    assert!(app.confirm.is_none());
    assert!(
        app.shared
            .info
            .as_deref()
            .unwrap()
            .contains("already succeeded")
    );
}

#[test]
fn ctrl_c_quits_from_anywhere_and_q_types_in_the_form() {
    let mut app = app_with_jobs((100, 30), 120);
    app.key(key('n'));
    assert_eq!(app.screen, Screen::Submit);
    typed(&mut app, "quiet lake");
    assert!(!app.quit);
    assert_eq!(app.form.text(Field::Prompt), "quiet lake");
    app.key(key('c'));
    assert_eq!(app.key(ctrl('c')), vec![Command::Quit]);
    assert!(app.quit);

    let mut app = app_with_jobs((100, 30), 120);
    app.key(key('c'));
    assert_eq!(app.key(ctrl('c')), vec![Command::Quit]);
    let mut app = app_with_jobs((100, 30), 120);
    assert_eq!(app.key(key('q')), vec![Command::Quit]);
}

#[test]
fn form_validation_names_the_field_and_the_allowed_range() {
    let mut app = app_with_jobs((100, 30), 3);
    app.key(key('n'));
    assert!(app.key(ctrl('s')).is_empty());
    assert_eq!(app.form.errors[&Field::Prompt], "a prompt is required");
    typed(&mut app, "a red kite");
    assert!(
        !app.form.errors.contains_key(&Field::Prompt),
        "typing clears the error"
    );
    // Down to steps and type an out-of-range value.
    while app.form.focus != Field::Steps {
        app.key(code(KeyCode::Down));
    }
    typed(&mut app, "500");
    app.key(code(KeyCode::Down));
    typed(&mut app, "99");
    assert!(app.key(ctrl('s')).is_empty());
    assert_eq!(app.form.errors[&Field::Steps], "a whole number 1–100");
    assert_eq!(app.form.errors[&Field::Guidance], "a number 1.5–20");
    assert_eq!(
        app.form.focus,
        Field::Steps,
        "focus jumps to the first error"
    );
}

#[test]
fn loras_must_sum_to_one_and_normalise_fixes_them() {
    let mut app = app_with_jobs((100, 30), 3);
    app.key(key('n'));
    typed(&mut app, "a portrait");
    app.form.set_text(Field::Loras, "owner/a:3\nowner/b:1");
    app.key(ctrl('s'));
    assert!(app.form.errors[&Field::Loras].contains("sum to 4"));
    app.key(ctrl('n'));
    assert_eq!(app.form.text(Field::Loras), "owner/a:0.75\nowner/b:0.25");
    let cmds = app.key(ctrl('s'));
    let [Command::Submit(spec)] = cmds.as_slice() else {
        panic!("expected a submit, got {cmds:?}");
    };
    assert_eq!(spec.provider, "modelscope");
    assert_eq!(spec.loras.len(), 2);
    assert_eq!(spec.loras[0].weight, 0.75);
    assert!(app.form.sending);
    assert!(app.key(ctrl('s')).is_empty(), "no double submit");
}

#[test]
fn provider_picker_changes_the_ranges_checked() {
    let mut app = app_with_jobs((100, 30), 3);
    app.key(key('n'));
    typed(&mut app, "a castle");
    app.key(code(KeyCode::Up));
    app.key(code(KeyCode::Up));
    assert_eq!(app.form.focus, Field::Provider);
    app.key(code(KeyCode::Right));
    assert_eq!(app.form.provider_name(), "dashscope");
    app.key(code(KeyCode::Down));
    app.key(code(KeyCode::Right));
    assert_eq!(app.form.model_name(), "wan2.2-t2i-plus");
    app.form.set_text(Field::Size, "2048x2048");
    app.form.set_text(Field::Count, "4");
    app.key(ctrl('s'));
    assert_eq!(app.form.errors[&Field::Size], "each side 512–1440");
    assert!(!app.form.errors.contains_key(&Field::Count));
}

#[test]
fn daemon_invalid_params_lands_next_to_its_field() {
    let mut app = app_with_jobs((100, 30), 3);
    app.key(key('n'));
    typed(&mut app, "a castle");
    app.key(ctrl('s'));
    app.update(Action::SubmitFailed(CallError {
        kind: None,
        message: "spec.loras[1].weight: must be within range".into(),
        field: Some("spec.loras[1].weight".into()),
        allowed: Some("0–1".into()),
    }));
    assert!(!app.form.sending);
    assert_eq!(app.form.focus, Field::Loras);
    assert!(app.form.errors[&Field::Loras].contains("allowed: 0–1"));
}

#[test]
fn rerun_opens_the_form_prefilled_from_the_export() {
    let mut app = app_with_jobs((100, 30), 3);
    assert_eq!(app.key(key('R')), vec![Command::ExportForRerun(id(3))]);
    app.update(Action::RerunLoaded(rich_job().params));
    assert_eq!(app.screen, Screen::Submit);
    assert_eq!(app.form.rerun_of.as_deref(), Some("3"));
    assert_eq!(
        app.form.text(Field::Prompt),
        "watercolour fox in a snowy forest"
    );
    assert_eq!(app.form.text(Field::Guidance), "4.5");
    assert_eq!(
        app.form.text(Field::Loras),
        "merjic/majicbeauty-qwen1:0.7\nDiffSynth-Studio/Qwen-Image-Distill-LoRA:0.3"
    );
    assert!(app.form.validate().is_some());
}

#[test]
fn live_events_update_rows_and_refetch_once_debounced() {
    let mut app = app_with_jobs((100, 30), 120);
    app.update(Action::Subscribed { head_seq: 100 });
    // The page read beside the first subscription is read once more after it.
    assert!(!app.flush_stale().is_empty());
    app.update(Action::Notify(event(
        101,
        120,
        EventBody::Progress { progress: 80 },
    )));
    assert_eq!(app.jobs.selected_job().unwrap().progress, Some(80));
    assert!(!app.has_stale(), "progress needs no refetch");
    for seq in 102..105 {
        app.update(Action::Notify(event(
            seq,
            120,
            EventBody::State {
                from: JobState::Running,
                to: JobState::Fetching,
                error: None,
            },
        )));
    }
    assert_eq!(app.jobs.selected_job().unwrap().state, JobState::Fetching);
    assert!(app.has_stale());
    let cmds = app.flush_stale();
    assert_eq!(cmds, vec![Command::FetchJob(id(120)), Command::FetchStatus]);
    assert!(!app.has_stale());
    app.update(Action::Notify(event(
        105,
        121,
        EventBody::Created {
            provider: "modelscope".into(),
            model: None,
        },
    )));
    let cmds = app.flush_stale();
    assert_eq!(page_fetch(&cmds).offset, Some(0));
}

#[test]
fn duplicate_events_are_ignored_and_reconnect_resumes_from_the_last_seq() {
    let mut app = app_with_jobs((100, 30), 120);
    app.update(Action::Subscribed { head_seq: 41 });
    app.update(Action::Notify(event(
        42,
        120,
        EventBody::Progress { progress: 50 },
    )));
    app.update(Action::Notify(event(
        42,
        120,
        EventBody::Progress { progress: 99 },
    )));
    app.update(Action::Notify(event(
        40,
        120,
        EventBody::Progress { progress: 1 },
    )));
    assert_eq!(app.jobs.selected_job().unwrap().progress, Some(50));
    assert_eq!(app.live.last_seq, Some(42));
    app.update(Action::Disconnected {
        reason: "lost".into(),
    });
    assert!(app.needs_tick(), "the banner animates while reconnecting");
    let cmds = app.update(Action::Connected {
        version: "0.1.1".into(),
    });
    assert!(cmds.contains(&Command::Subscribe {
        since_seq: Some(42)
    }));
    // The replayed head is not taken as the position.
    app.update(Action::Subscribed { head_seq: 50 });
    assert_eq!(app.live.last_seq, Some(42));
}

#[test]
fn resync_resubscribes_and_refetches_what_is_shown() {
    let mut app = app_with_jobs((100, 30), 120);
    app.key(code(KeyCode::Enter));
    let cmds = app.update(Action::Resync { last_seq: 77 });
    assert_eq!(
        cmds,
        vec![Command::Subscribe {
            since_seq: Some(77)
        }]
    );
    let cmds = app.flush_stale();
    page_fetch(&cmds);
    assert!(cmds.contains(&Command::FetchEvents(id(120))));
    assert!(cmds.contains(&Command::FetchStatus));
}

#[test]
fn detail_timeline_grows_with_live_events_without_duplicates() {
    let mut app = app_with_jobs((100, 30), 120);
    let cmds = app.key(code(KeyCode::Enter));
    assert_eq!(app.screen, Screen::Detail);
    assert!(cmds.contains(&Command::FetchEvents(id(120))));
    app.update(Action::EventsLoaded {
        id: id(120),
        events: vec![event(
            5,
            120,
            EventBody::Note {
                message: "hi".into(),
            },
        )],
    });
    app.update(Action::Notify(event(
        6,
        120,
        EventBody::Note {
            message: "retrying after 429".into(),
        },
    )));
    app.update(Action::Notify(event(
        6,
        120,
        EventBody::Note {
            message: "retrying after 429".into(),
        },
    )));
    assert_eq!(app.detail.open.as_ref().unwrap().events.len(), 2);
    app.key(code(KeyCode::Esc));
    assert_eq!(app.screen, Screen::Jobs);
    app.key(code(KeyCode::Tab));
    assert_eq!(app.screen, Screen::Detail);
    app.key(key('1'));
    assert_eq!(app.screen, Screen::Jobs);
    app.key(key('3'));
    assert_eq!(app.screen, Screen::Submit);
}

#[test]
fn copy_prefers_the_upload_url_and_export_names_a_file() {
    let mut app = app_with_jobs((100, 30), 3);
    app.jobs.rows[0] = rich_job();
    assert_eq!(
        app.key(key('y')),
        vec![Command::Copy(
            "https://bucket.cos.example.invalid/genq/0.png".into()
        )]
    );
    assert_eq!(
        app.key(key('o')),
        vec![Command::OpenOutput {
            id: app.jobs.rows[0].id.clone(),
            path: "/home/u/.local/share/genq/outputs/019a0009/0.png".into()
        }]
    );
    let cmds = app.key(key('e'));
    assert!(
        matches!(&cmds[..], [Command::ExportToFile { path, .. }] if path.to_str() == Some("genq-job-9.json"))
    );
    assert_eq!(app.key(key('m')), vec![Command::SetMouse(true)]);
}

#[test]
fn exports_of_jobs_made_in_the_same_minute_go_to_different_files() {
    let mut app = app_with_jobs((100, 30), 3);
    // Ids made within about a minute share their first 8 characters (the time part).
    app.jobs.rows[0].id = genq_protocol::JobId("019adb3c-1a2b-7000-8000-000000000002".into());
    app.jobs.rows[1].id = genq_protocol::JobId("019adb3c-1a2b-7000-8000-000000000001".into());
    let path = |cmds: Vec<Command>| match &cmds[..] {
        [Command::ExportToFile { path, .. }] => path.clone(),
        other => panic!("{other:?}"),
    };
    let first = path(app.key(key('e')));
    app.key(key('j'));
    let second = path(app.key(key('e')));
    assert_ne!(first, second);
}

#[test]
fn opening_an_image_job_requests_a_preview_sized_to_the_pane() {
    let mut app = app_with_jobs((120, 40), 3);
    app.shared.previews = true;
    app.jobs.rows[0] = rich_job();
    let cmds = app.key(code(KeyCode::Enter));
    assert!(
        cmds.iter().any(|c| matches!(
            c,
            Command::LoadPreview {
                cols: 38,
                rows: 35,
                ..
            }
        )),
        "{cmds:?}"
    );
    // Narrow terminals get no preview pane, so nothing is decoded.
    let mut app = app_with_jobs((60, 15), 3);
    app.shared.previews = true;
    app.jobs.rows[0] = rich_job();
    let cmds = app.key(code(KeyCode::Enter));
    assert!(
        !cmds
            .iter()
            .any(|c| matches!(c, Command::LoadPreview { .. }))
    );
}

#[test]
fn a_preview_not_on_this_machine_is_asked_of_the_daemon_sized_to_the_pane() {
    let mut app = app_with_jobs((120, 40), 3);
    app.shared.previews = true;
    app.jobs.rows[0] = rich_job();
    let id = app.jobs.rows[0].id.clone();
    let cmds = app.key(code(KeyCode::Enter));
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::LoadPreview { path, .. } if !crate::tui::preview::is_local(path))),
        "{cmds:?}"
    );
    // Another job's answer changes nothing.
    let other = genq_protocol::JobId("019a0000-0000-7000-8000-000000000000".into());
    assert_eq!(app.update(Action::PreviewNotLocal(other)), vec![]);
    assert_eq!(
        app.update(Action::PreviewNotLocal(id.clone())),
        vec![Command::FetchPreview {
            id: id.clone(),
            cols: 38,
            rows: 35
        }]
    );
    // Once a preview arrived (or failed), a late answer asks nothing more.
    app.update(Action::PreviewReady(crate::tui::preview::Preview {
        id: id.clone(),
        path: "the daemon's preview".into(),
        result: Err("no image".into()),
    }));
    assert_eq!(app.update(Action::PreviewNotLocal(id)), vec![]);
}

#[test]
fn keymap_overrides_rebind_and_bad_names_are_explained() {
    let mut app = app_with_jobs((100, 30), 120);
    app.shared.keymap.rebind("jobs", "x", "cancel").unwrap();
    app.key(key('x'));
    assert!(app.confirm.is_some());
    let mut km = Keymap::default();
    assert_eq!(
        km.rebind("jobs", "ctrl-", "quit"),
        Err(KeymapError::BadKey("ctrl-".into()))
    );
    assert!(
        km.rebind("nowhere", "x", "quit")
            .unwrap_err()
            .to_string()
            .contains("allowed: global")
    );
    assert!(km.rebind("jobs", "x", "explode").is_err());
}

#[test]
fn help_lists_every_binding_of_the_screen() {
    let km = Keymap::default();
    let mut app = app_with_jobs((100, 60), 3);
    app.key(key('?'));
    assert_eq!(app.screen, Screen::Help);
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 60)).unwrap();
    term.draw(|f| crate::tui::draw(f, &app)).unwrap();
    let screen = term.backend().to_string();
    for b in km
        .bindings(Context::Jobs)
        .chain(km.bindings(Context::Global))
    {
        assert!(
            screen.contains(b.description),
            "help misses {:?}",
            b.description
        );
    }
    app.key(code(KeyCode::Esc));
    assert_eq!(app.screen, Screen::Jobs);
    assert!(
        UiAction::ALL
            .iter()
            .all(|a| UiAction::from_name(a.name()) == Some(*a))
    );
}

#[test]
fn config_key_overrides_apply_and_refused_entries_are_named() {
    let config: toml::Table = toml::from_str(
        r#"
        [daemon]
        something = 1
        [tui.keys.jobs]
        cancel = "x"
        explode = "z"
        [tui.keys.global]
        quit = "ctrl-q"
        "#,
    )
    .unwrap();
    let mut km = Keymap::default();
    let errors = km.apply_config(&config);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("tui.keys.jobs.explode"), "{errors:?}");
    assert_eq!(km.lookup(Context::Jobs, &key('x')), Some(UiAction::Cancel));
    assert_eq!(km.lookup(Context::Submit, &ctrl('q')), Some(UiAction::Quit));
}

#[test]
fn a_daemon_with_an_older_history_resets_the_position() {
    let mut app = app_with_jobs((100, 30), 120);
    app.update(Action::Subscribed { head_seq: 500 });
    app.update(Action::Disconnected {
        reason: "lost".into(),
    });
    app.update(Action::Connected {
        version: "new".into(),
    });
    let cmds = app.update(Action::Subscribed { head_seq: 3 });
    assert_eq!(cmds, vec![Command::Subscribe { since_seq: Some(3) }]);
    app.update(Action::Notify(event(
        4,
        120,
        EventBody::Progress { progress: 70 },
    )));
    assert_eq!(app.jobs.selected_job().unwrap().progress, Some(70));
}

#[test]
fn pasted_text_lands_in_the_focused_input() {
    let mut app = app_with_jobs((100, 30), 3);
    app.key(key('n'));
    app.update(Action::Paste("a misty\r\nharbour".into()));
    assert_eq!(app.form.text(Field::Prompt), "a misty\nharbour");
    app.key(code(KeyCode::Down));
    app.update(Action::Paste("blur\nnoise".into()));
    assert_eq!(app.form.text(Field::Negative), "blur noise");
    app.key(code(KeyCode::Esc));
    app.key(key('/'));
    app.update(Action::Paste("fox\n".into()));
    assert_eq!(app.jobs.search.input.as_deref(), Some("fox "));
}

#[test]
fn quota_follows_the_latest_provider_list() {
    let mut app = app_with_jobs((100, 30), 3);
    let mut ms: genq_protocol::methods::ProviderInfo = serde_json::from_value(serde_json::json!({
        "name": "modelscope", "base_url": "http://x", "key_source": "env", "has_key": true,
        "max_concurrent": 1, "requests_per_second": 1.0, "timeout_s": 30, "in_flight": 0,
        "queued": 0, "quota_remaining": 7
    }))
    .unwrap();
    app.update(Action::ProvidersLoaded(vec![ms.clone()]));
    assert_eq!(app.shared.quotas.len(), 1);
    assert_eq!(app.shared.quotas[0].remaining, Some(7));
    ms.quota_remaining = None;
    app.update(Action::ProvidersLoaded(vec![ms]));
    assert!(
        app.shared.quotas.is_empty(),
        "a quota no longer reported is still shown"
    );
}

#[test]
fn the_hint_line_names_each_filter_key_once() {
    let app = app_with_jobs((100, 30), 3);
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 30)).unwrap();
    term.draw(|f| crate::tui::draw(f, &app)).unwrap();
    let screen = term.backend().to_string();
    assert_eq!(screen.matches(" filter").count(), 1, "{screen}");
}

#[test]
fn a_removed_job_leaves_the_table_and_the_page_refills() {
    let mut app = app_with_jobs((100, 30), 120);
    app.update(Action::Subscribed { head_seq: 100 });
    assert!(app.jobs.rows.iter().any(|j| j.id == id(120)));
    app.update(Action::Notify(event(
        101,
        120,
        EventBody::Removed { outputs: false },
    )));
    assert!(app.jobs.rows.iter().all(|j| j.id != id(120)));
    let cmds = app.flush_stale();
    assert!(cmds.contains(&Command::FetchStatus), "{cmds:?}");
    assert_eq!(page_fetch(&cmds).offset, Some(0));
}

#[test]
fn a_job_past_running_shows_its_state_not_the_providers_last_percentage() {
    let mut app = app_with_jobs((120, 30), 8);
    let first = app.jobs.rows[0].clone();
    assert_eq!(first.state, JobState::Running);
    let num = first.num.unwrap() as u32;
    app.update(Action::Notify(event(
        20,
        num,
        EventBody::Progress { progress: 93 },
    )));
    let row = |app: &App| {
        let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 30)).unwrap();
        term.draw(|f| crate::tui::draw(f, app)).unwrap();
        let screen = term.backend().to_string();
        screen
            .lines()
            .find(|l| l.contains(&first.prompt()[..20]))
            .expect("the job's row")
            .to_string()
    };
    assert!(row(&app).contains("93%"), "{}", row(&app));
    app.update(Action::Notify(event(
        21,
        num,
        EventBody::State {
            from: JobState::Running,
            to: JobState::Fetching,
            error: None,
        },
    )));
    let fetching = row(&app);
    assert!(
        fetching.contains("fetching") && !fetching.contains('%'),
        "{fetching}"
    );
    let job = app.jobs.rows[0].clone();
    assert_eq!(crate::format::state_with_progress(&job), "fetching");
}

#[test]
fn the_first_subscription_fetches_the_page_again_so_jobs_made_before_it_are_not_missed() {
    // The page is read, then jobs are created and end, then the subscription starts at the
    // daemon's head: their events never come, the page must be read again.
    let mut app = App::new((120, 30), at(0));
    let cmds = app.update(Action::Connected {
        version: "0.1.0".into(),
    });
    assert!(cmds.iter().any(|c| matches!(c, Command::Subscribe { .. })));
    let generation = app.jobs.generation;
    app.update(Action::PageLoaded {
        generation,
        offset: 0,
        page: JobPage {
            jobs: Vec::new(),
            next_cursor: None,
            total: 0,
        },
    });
    assert!(!app.has_stale());
    app.update(Action::Subscribed { head_seq: 9 });
    assert!(
        app.has_stale(),
        "nothing is fetched again after the subscription"
    );
    let cmds = app.flush_stale();
    page_fetch(&cmds);
    assert!(cmds.contains(&Command::FetchStatus), "{cmds:?}");
    // A later subscription (a reconnect) resumes from where the events stopped: no refetch.
    app.update(Action::Subscribed { head_seq: 9 });
    assert!(!app.has_stale());
}
