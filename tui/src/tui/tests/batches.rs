//! The jobs screen grouped by batch: snapshots of the batches and of one batch's rows, and
//! keys → commands (cancel and retry on a batch go to `batch.cancel` / `batch.retry`).

use super::fixtures::*;
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::command::{BatchCall, Command};
use crossterm::event::KeyCode;
use genq_protocol::batch::{BatchCounts, BatchDetail, BatchInfo, BatchRow};
use genq_protocol::{Event, EventBody, JobError, JobErrorKind, JobState, Output};
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

fn counts(succeeded: u64, failed: u64, in_flight: u64, pending: u64) -> BatchCounts {
    BatchCounts {
        total: succeeded + failed + in_flight + pending,
        pending,
        in_flight,
        succeeded,
        failed,
        canceled: 0,
    }
}

fn batch(id: u64, name: &str, counts: BatchCounts) -> BatchInfo {
    BatchInfo {
        id,
        name: name.into(),
        source: "cli".into(),
        created_at: at(id as i64 * 60),
        finished_at: counts.finished().then(|| at(id as i64 * 60 + 300)),
        canceled: false,
        counts,
        manifest: None,
    }
}

fn batches() -> Vec<BatchInfo> {
    vec![
        batch(3, "illustrations.jsonl", counts(5, 1, 3, 11)),
        batch(2, "styles.toml", counts(12, 0, 0, 0)),
        batch(1, "chapters.csv", counts(7, 2, 0, 0)),
    ]
}

fn row(index: u64, state: Option<JobState>) -> BatchRow {
    let done = state == Some(JobState::Succeeded);
    BatchRow {
        index,
        row: index,
        prompt: format!("black-and-white line art, paragraph {index}"),
        job_id: state.map(|_| id(index as u32)),
        job_num: state.map(|_| 40 + index),
        state,
        error: (state == Some(JobState::Failed)).then(|| JobError {
            kind: JobErrorKind::Provider,
            message: "content filter".into(),
            provider_request_id: None,
        }),
        output: Some(format!("/home/me/book/illustrations/{index:03}.png")),
        copied: if done {
            vec![format!("/home/me/book/illustrations/{index:03}.png")]
        } else {
            Vec::new()
        },
        outputs: if done {
            vec![Output {
                index: 0,
                path: Some(format!("/data/outputs/{index}.png")),
                sha256: None,
                size: None,
                mime: None,
                width: None,
                height: None,
                source_url: None,
                uploads: Vec::new(),
                label: None,
                format: None,
            }]
        } else {
            Vec::new()
        },
        reused: false,
    }
}

fn detail() -> BatchDetail {
    use JobState::*;
    let states = [
        Some(Succeeded),
        Some(Succeeded),
        Some(Failed),
        Some(Running),
        Some(Queued),
        None,
        None,
    ];
    BatchDetail {
        batch: batch(3, "illustrations.jsonl", counts(2, 1, 2, 2)),
        rows: states
            .into_iter()
            .enumerate()
            .map(|(i, s)| row(i as u64 + 1, s))
            .collect(),
    }
}

/// The jobs screen with `b` pressed and `batch.list` answered.
fn grouped(size: (u16, u16)) -> App {
    let mut app = app_with_jobs(size, 120);
    assert_eq!(app.key(key('b')), vec![Command::Batch(BatchCall::List)]);
    app.update(Action::BatchesLoaded(batches()));
    app
}

#[test]
fn jobs_grouped_by_batch() {
    for size in SIZES {
        check("batches", &grouped(size));
    }
}

#[test]
fn a_batch_s_rows() {
    for size in SIZES {
        let mut app = grouped(size);
        assert_eq!(
            app.key(code(KeyCode::Enter)),
            vec![Command::Batch(BatchCall::Get(3))]
        );
        app.update(Action::BatchLoaded(Box::new(detail())));
        check("batch_rows", &app);
    }
}

#[test]
fn help_on_the_batches_lists_their_keys() {
    for size in SIZES {
        let mut app = grouped(size);
        app.key(key('?'));
        check("help_batches", &app);
    }
}

#[test]
fn b_toggles_back_to_the_unchanged_jobs_table() {
    let mut app = grouped((100, 30));
    let before = render(&app_with_jobs((100, 30), 120));
    assert_eq!(app.key(key('b')), vec![]);
    assert_eq!(render(&app), before);
}

#[test]
fn cancel_on_a_batch_row_sends_batch_cancel_after_confirming() {
    let mut app = grouped((100, 30));
    assert_eq!(app.key(key('c')), vec![]);
    let confirm = app.confirm.clone().expect("a confirm dialog");
    assert!(confirm.question.contains("batch 3"), "{}", confirm.question);
    assert_eq!(
        app.key(key('y')),
        vec![Command::Batch(BatchCall::Cancel(3))]
    );
    // The answer updates the row's counts at once and refetches what it changed.
    let mut canceled = batches()[0].clone();
    canceled.canceled = true;
    canceled.counts = BatchCounts {
        canceled: 14,
        ..counts(5, 1, 0, 0)
    };
    app.update(Action::BatchChanged {
        verb: "canceled",
        batch: canceled.clone(),
    });
    assert_eq!(app.batches.batches[0], canceled);
    assert!(app.flush_stale().contains(&Command::Batch(BatchCall::List)));
    // A finished batch is not canceled again.
    app.key(key('c'));
    assert!(app.confirm.is_none());
}

#[test]
fn retry_on_a_batch_sends_batch_retry_only_with_failed_rows() {
    let mut app = grouped((100, 30));
    app.key(key('j'));
    assert_eq!(app.batches.selected_batch().unwrap().id, 2);
    assert_eq!(app.key(key('r')), vec![], "batch 2 has no failed rows");
    app.key(key('j'));
    assert_eq!(app.key(key('r')), vec![Command::Batch(BatchCall::Retry(1))]);
    // In a batch's rows, retry acts on that batch too.
    app.key(key('g'));
    app.key(code(KeyCode::Enter));
    app.update(Action::BatchLoaded(Box::new(detail())));
    assert_eq!(app.key(key('r')), vec![Command::Batch(BatchCall::Retry(3))]);
    // Esc goes back to the batches, a second Esc stays on them.
    app.key(code(KeyCode::Esc));
    assert!(app.batches.open.is_none() && app.batches.grouped);
}

#[test]
fn live_events_refetch_the_batches_and_the_open_batch() {
    let mut app = grouped((100, 30));
    app.update(Action::Subscribed { head_seq: 10 });
    app.key(code(KeyCode::Enter));
    app.update(Action::BatchLoaded(Box::new(detail())));
    app.update(Action::Notify(Event {
        seq: 11,
        job_id: id(44),
        job_num: Some(44),
        at: at(7000),
        body: EventBody::State {
            from: JobState::Running,
            to: JobState::Succeeded,
            error: None,
        },
    }));
    assert!(app.has_stale());
    let cmds = app.flush_stale();
    assert!(cmds.contains(&Command::Batch(BatchCall::List)), "{cmds:?}");
    assert!(
        cmds.contains(&Command::Batch(BatchCall::Get(3))),
        "{cmds:?}"
    );
    // Ungrouped, the batches are not fetched.
    app.key(key('b'));
    app.update(Action::Notify(Event {
        seq: 12,
        job_id: id(45),
        job_num: Some(45),
        at: at(7001),
        body: EventBody::Created {
            provider: "modelscope".into(),
            model: None,
        },
    }));
    assert!(!app.flush_stale().contains(&Command::Batch(BatchCall::List)));
}

#[test]
fn a_reconnect_fetches_the_batches_again() {
    let mut app = grouped((100, 30));
    app.key(code(KeyCode::Enter));
    app.update(Action::Disconnected {
        reason: "daemon gone".into(),
    });
    let cmds = app.update(Action::Connected {
        version: "0.1.0".into(),
    });
    assert!(cmds.contains(&Command::Batch(BatchCall::List)), "{cmds:?}");
    assert!(
        cmds.contains(&Command::Batch(BatchCall::Get(3))),
        "{cmds:?}"
    );
}
