//! Store behaviour on real SQLite files.

use super::*;
use genq_protocol::methods::JobPage;
use genq_protocol::methods::{ListParams, Sort};
use genq_protocol::{JobKind, JobSpec, JobState};

impl Store {
    /// A page of `jobs.list` with its jobs read back from their JSON, as a client reads them.
    async fn list_jobs_read(&self, p: ListParams) -> Result<JobPage, StoreError> {
        let page = self.list_jobs(p).await?;
        Ok(JobPage {
            jobs: page
                .jobs
                .iter()
                .map(|j| serde_json::from_str(j.get()).expect("a listed job's JSON"))
                .collect(),
            next_cursor: page.next_cursor,
            total: page.total,
        })
    }
}

fn new_job(i: u32, prompt: &str) -> NewJob {
    NewJob {
        id: genq_protocol::JobId(uuid::Uuid::now_v7().to_string()),
        kind: JobKind::Image,
        spec: JobSpec {
            provider: if i.is_multiple_of(2) {
                "modelscope"
            } else {
                "dashscope"
            }
            .into(),
            prompt: prompt.into(),
            ..JobSpec::default()
        },
        idempotency_key: None,
        retry_of: None,
    }
}

async fn store() -> (tempfile::TempDir, Store, StoreThread) {
    let dir = tempfile::tempdir().unwrap();
    let (s, t) = Store::open(&dir.path().join("genq.db")).unwrap();
    (dir, s, t)
}

#[tokio::test]
async fn illegal_transitions_are_refused_and_change_nothing() {
    let (_d, s, _t) = store().await;
    let Created::New(job, _) = s.create_job(new_job(0, "a")).await.unwrap() else {
        panic!()
    };
    let err = s
        .transition(job.id.clone(), Transition::Succeeded)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::IllegalTransition {
            from: JobState::Queued,
            to: JobState::Succeeded,
            ..
        }
    ));
    assert_eq!(
        s.get_job(job.id.0.clone()).await.unwrap().state,
        JobState::Queued
    );
    let (j, events) = s
        .transition(job.id.clone(), Transition::Canceled)
        .await
        .unwrap();
    assert_eq!(j.state, JobState::Canceled);
    assert!(j.finished_at.is_some());
    assert_eq!(events.len(), 1);
    assert!(
        s.transition(job.id.clone(), Transition::Requeued)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn idempotency_key_returns_the_first_job() {
    let (_d, s, _t) = store().await;
    let mut a = new_job(0, "first");
    a.idempotency_key = Some("k1".into());
    let mut b = new_job(0, "second");
    b.idempotency_key = Some("k1".into());
    let Created::New(first, _) = s.create_job(a).await.unwrap() else {
        panic!()
    };
    let Created::Existing(again) = s.create_job(b).await.unwrap() else {
        panic!("created twice")
    };
    assert_eq!(first.id, again.id);
    assert_eq!(again.params.prompt, "first");
}

#[tokio::test]
async fn prefixes_resolve_when_unique() {
    let (_d, s, _t) = store().await;
    let Created::New(job, _) = s.create_job(new_job(0, "a")).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        s.get_job(job.id.0[..13].to_string()).await.unwrap().id,
        job.id
    );
    // Two jobs made in the same millisecond share a long prefix.
    let Created::New(other, _) = s.create_job(new_job(0, "b")).await.unwrap() else {
        panic!()
    };
    let common: String = job
        .id
        .0
        .chars()
        .zip(other.id.0.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect();
    assert!(matches!(
        s.get_job(common).await,
        Err(StoreError::Ambiguous { count: 2, .. })
    ));
    assert!(matches!(
        s.get_job("zz".into()).await,
        Err(StoreError::Invalid { .. })
    ));
}

fn created(c: Created) -> genq_protocol::Job {
    match c {
        Created::New(job, _) | Created::Existing(job) => job,
    }
}

#[tokio::test]
async fn jobs_are_numbered_in_order_and_a_number_names_one_job() {
    let (_d, s, _t) = store().await;
    let mut jobs = Vec::new();
    for i in 0..3 {
        jobs.push(created(s.create_job(new_job(i, "x")).await.unwrap()));
    }
    let nums: Vec<_> = jobs.iter().map(|j| j.num).collect();
    assert_eq!(nums, [Some(1), Some(2), Some(3)]);
    for job in &jobs {
        let shown = job.short_id();
        assert_eq!(s.get_job(shown).await.unwrap().id, job.id);
    }
    // Full ids (in any case) and prefixes of 4 or more characters still work.
    let id = &jobs[1].id.0;
    assert_eq!(s.get_job(id.to_uppercase()).await.unwrap().id, jobs[1].id);
    assert_eq!(
        s.get_job(id[..30].to_string()).await.unwrap().id,
        jobs[1].id
    );
    let err = s.get_job("4".into()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NoJobNumber { last: 3, .. }),
        "{err}"
    );
    assert_eq!(err.to_string(), "no job 4; job numbers go up to 3");
    // Never read as a number: a leading zero, a sign; too short for a prefix.
    for bad in ["01", "+1", "-1", "019", ""] {
        let err = s.get_job(bad.into()).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{bad:?}: {err}");
    }
    // Every id starts with 0, so an id prefix made of digits is still a prefix.
    let digits: String = id.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.len() >= 4 {
        assert!(!matches!(
            s.get_job(digits).await,
            Err(StoreError::NoJobNumber { .. })
        ));
    }
}

#[tokio::test]
async fn numbers_are_never_reused_and_come_with_events() {
    let (_d, s, _t) = store().await;
    s.create_jobs((0..3).map(|i| new_job(i, "bulk")).collect())
        .await
        .unwrap();
    let Created::New(fourth, event) = s.create_job(new_job(3, "x")).await.unwrap() else {
        panic!()
    };
    assert_eq!((fourth.num, event.job_num), (Some(4), Some(4)));
    // The newest job goes; its number stays taken.
    let gone = fourth.id.0.clone();
    s.call(move |c| {
        c.execute("DELETE FROM job_events WHERE job_id = ?1", [&gone])?;
        c.execute("DELETE FROM jobs WHERE id = ?1", [&gone])?;
        Ok(())
    })
    .await
    .unwrap();
    let fifth = created(s.create_job(new_job(4, "x")).await.unwrap());
    assert_eq!(fifth.num, Some(5));
    let replayed = s.events_since(0, 100).await.unwrap();
    let nums: Vec<_> = replayed.iter().map(|e| e.job_num).collect();
    assert_eq!(nums, [Some(1), Some(2), Some(3), Some(5)]);
    let found = s
        .list_jobs_read(ListParams {
            text: Some("2".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        found.jobs.iter().any(|j| j.num == Some(2)),
        "searching a number finds that job"
    );
}

#[tokio::test]
async fn an_older_database_gets_numbers_in_created_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("genq.db");
    // As genq left it before numbers: schema 3, jobs whose ids and creation times disagree
    // on the order (a clock step), and two made in the same millisecond.
    let old = [
        ("0193a0c4-0000-7000-8000-000000000003", 2_000),
        ("0193a0c4-0000-7000-8000-000000000001", 3_000),
        ("0193a0c4-0000-7000-8000-000000000002", 1_000),
        ("0193a0c4-0000-7000-8000-000000000009", 3_000),
    ];
    {
        let mut c = rusqlite::Connection::open(&path).unwrap();
        migrations::migrate_to(&mut c, 3);
        for (id, at) in old {
            c.execute(
                "INSERT INTO jobs (id, kind, provider, state, spec, prompt, created_at, updated_at)
                 VALUES (?1, 'image', 'modelscope', 'succeeded', '{\"provider\":\"modelscope\"}',
                         '', ?2, ?2)",
                rusqlite::params![id, at],
            )
            .unwrap();
            c.execute(
                "INSERT INTO job_events (job_id, at, body) VALUES (?1, ?2, ?3)",
                rusqlite::params![
                    id,
                    at,
                    r#"{"type":"created","provider":"modelscope","model":null}"#
                ],
            )
            .unwrap();
        }
    }
    let (s, _t) = Store::open(&path).unwrap();
    let num = |id: &'static str| {
        let s = s.clone();
        async move { s.get_job(id.into()).await.unwrap().num }
    };
    assert_eq!(num(old[2].0).await, Some(1));
    assert_eq!(num(old[0].0).await, Some(2));
    assert_eq!(num(old[1].0).await, Some(3), "same millisecond: by id");
    assert_eq!(num(old[3].0).await, Some(4));
    assert_eq!(s.get_job("3".into()).await.unwrap().id.0, old[1].0);
    let next = created(s.create_job(new_job(0, "new")).await.unwrap());
    assert_eq!(next.num, Some(5));
    let events = s.events_since(0, 100).await.unwrap();
    assert!(events.iter().all(|e| e.job_num.is_some()), "{events:?}");
}

#[tokio::test]
async fn lists_page_filter_and_sort_on_the_database() {
    let (_d, s, _t) = store().await;
    let jobs: Vec<_> = (0..120)
        .map(|i| {
            new_job(
                i,
                &format!("prompt {i} {}", if i % 10 == 0 { "teapot" } else { "cat" }),
            )
        })
        .collect();
    s.create_jobs(jobs).await.unwrap();
    let page = s
        .list_jobs_read(ListParams {
            limit: Some(50),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((page.jobs.len(), page.total), (50, 120));
    assert!(
        page.jobs.windows(2).all(|w| w[0].id > w[1].id),
        "newest first"
    );
    let next = s
        .list_jobs_read(ListParams {
            limit: Some(50),
            cursor: page.next_cursor.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(next.jobs[0].id < page.jobs[49].id);
    let teapots = s
        .list_jobs_read(ListParams {
            text: Some("TEAPOT".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(teapots.total, 12);
    let ds = s
        .list_jobs_read(ListParams {
            provider: Some("dashscope".into()),
            sort: Sort::Oldest,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ds.total, 60);
    assert!(
        ds.jobs.windows(2).all(|w| w[0].id < w[1].id),
        "oldest first"
    );
    let none = s
        .list_jobs_read(ListParams {
            state: vec![JobState::Running],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(none.total, 0);
    let pct = s
        .list_jobs_read(ListParams {
            text: Some("%".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        pct.total, 0,
        "LIKE wildcards in the search text are literal"
    );
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("genq.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE keep (x); INSERT INTO keep VALUES (42); PRAGMA user_version = 99;",
        )
        .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path)
        .err()
        .expect("newer schema accepted")
        .to_string();
    assert!(err.contains("99") && err.contains("newer"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("genq.db");
    std::fs::write(&path, b"this is not sqlite, but it is somebody's data").unwrap();
    let err = Store::open(&path)
        .err()
        .expect("garbage accepted")
        .to_string();
    assert!(err.contains("untouched"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"this is not sqlite, but it is somebody's data"
    );
}

#[tokio::test]
async fn events_have_increasing_seq_and_replay_from_any_point() {
    let (_d, s, _t) = store().await;
    for i in 0..5 {
        s.create_job(new_job(i, "x")).await.unwrap();
    }
    let all = s.events_since(0, 100).await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    let tail = s.events_since(all[2].seq, 100).await.unwrap();
    assert_eq!(tail.len(), 2);
    assert_eq!(s.head_seq().await.unwrap(), all[4].seq);
}

#[tokio::test]
async fn many_started_jobs_load_for_recovery() {
    let (_d, s, _t) = store().await;
    s.create_jobs((0..40_000).map(|i| new_job(i, "x")).collect())
        .await
        .unwrap();
    // Queued jobs wait in the database: a start loads only the ones under way.
    assert!(s.started_jobs().await.unwrap().is_empty());
    s.call(|conn| {
        conn.execute("UPDATE jobs SET state = 'running'", [])?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(s.started_jobs().await.unwrap().len(), 40_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_events_go_out_once_in_seq_order_and_rolled_back_ones_never() {
    let (_d, s, _t) = store().await;
    let mut bus = s.subscribe();
    let mut writers = Vec::new();
    for i in 0..40 {
        let s = s.clone();
        writers.push(tokio::spawn(async move {
            let Created::New(job, _) = s.create_job(new_job(i, "w")).await.unwrap() else {
                panic!()
            };
            for n in 0..5 {
                s.note(job.id.clone(), format!("note {n}")).await.unwrap();
            }
            // Refused after its `remote` event was appended: rolled back, never announced.
            let refused = Transition::Submitted {
                remote_id: "t".into(),
                request_id: None,
            };
            s.transition(job.id.clone(), refused).await.unwrap_err();
            s.transition(job.id.clone(), Transition::Canceled)
                .await
                .unwrap();
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let head = s.head_seq().await.unwrap();
    assert_eq!(head, 40 * 7);
    for expected in 1..=head {
        assert_eq!(bus.recv().await.unwrap().seq, expected);
    }
    assert!(bus.try_recv().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_sent_together_are_each_answered_after_commit_and_a_failed_one_fails_alone() {
    let (d, s, t) = store().await;
    let mut bus = s.subscribe();
    let mut writers = Vec::new();
    for i in 0..200u32 {
        let s = s.clone();
        writers.push(tokio::spawn(async move {
            if i % 4 == 3 {
                let missing = genq_protocol::JobId(format!("0000-missing-{i}"));
                s.transition(missing, Transition::Canceled).await.is_err()
            } else {
                matches!(
                    s.create_job(new_job(i, "grouped")).await,
                    Ok(Created::New(..))
                )
            }
        }));
    }
    for w in writers {
        assert!(w.await.unwrap());
    }
    let mut announced = 0;
    while bus.try_recv().is_ok() {
        announced += 1;
    }
    assert_eq!(
        announced, 150,
        "one `created` per committed job, none for failed writes"
    );
    drop(s);
    t.join();
    // Acknowledged means committed: all of them are there after a reopen.
    let (s, _t) = Store::open(&d.path().join("genq.db")).unwrap();
    assert_eq!(
        s.list_jobs_read(ListParams::default()).await.unwrap().total,
        150
    );
}

#[tokio::test]
async fn a_listing_counts_again_after_any_change_even_from_another_connection() {
    let (d, s, _t) = store().await;
    s.create_jobs((0..10).map(|i| new_job(i, "x")).collect())
        .await
        .unwrap();
    let total = |p: ListParams| {
        let s = s.clone();
        async move { s.list_jobs_read(p).await.unwrap().total }
    };
    let dashscope = || ListParams {
        provider: Some("dashscope".into()),
        ..ListParams::default()
    };
    assert_eq!(total(ListParams::default()).await, 10);
    assert_eq!(total(dashscope()).await, 5);
    s.create_job(new_job(1, "y")).await.unwrap();
    assert_eq!(total(ListParams::default()).await, 11);
    assert_eq!(total(dashscope()).await, 6);
    // Another connection (another process) removes one.
    let other = rusqlite::Connection::open(d.path().join("genq.db")).unwrap();
    other
        .execute_batch(
            "DELETE FROM job_events WHERE job_id IN (SELECT id FROM jobs WHERE prompt = 'y');
             DELETE FROM jobs WHERE prompt = 'y';",
        )
        .unwrap();
    assert_eq!(total(ListParams::default()).await, 10);
    assert_eq!(total(dashscope()).await, 5);
}

#[tokio::test]
async fn counts_by_state_and_provider_follow_creates_moves_and_removals() {
    let (_d, s, _t) = store().await;
    s.create_jobs((0..20).map(|i| new_job(i, "x")).collect())
        .await
        .unwrap();
    let all = s
        .list_jobs_read(ListParams {
            limit: Some(500),
            ..ListParams::default()
        })
        .await
        .unwrap()
        .jobs;
    for job in all.iter().take(7) {
        s.transition(job.id.clone(), Transition::Canceled)
            .await
            .unwrap();
    }
    s.call(|conn| {
        conn.execute(
            "UPDATE jobs SET provider = 'tripo' WHERE num IN (19, 20)",
            [],
        )?;
        Ok(())
    })
    .await
    .unwrap();
    let removed: Vec<String> = all.iter().take(3).map(|j| j.id.0.clone()).collect();
    s.remove_jobs(removed, false).await.unwrap();
    let now = s
        .list_jobs_read(ListParams {
            limit: Some(500),
            ..ListParams::default()
        })
        .await
        .unwrap()
        .jobs;
    let states = [
        vec![],
        vec![JobState::Queued],
        vec![JobState::Canceled, JobState::Queued],
    ];
    for state in states {
        for provider in [None, Some("dashscope"), Some("tripo")] {
            let expected = now
                .iter()
                .filter(|j| state.is_empty() || state.contains(&j.state))
                .filter(|j| provider.is_none_or(|p| j.provider == p))
                .count() as u64;
            let p = ListParams {
                state: state.clone(),
                provider: provider.map(str::to_string),
                ..ListParams::default()
            };
            assert_eq!(
                s.list_jobs_read(p).await.unwrap().total,
                expected,
                "{state:?} {provider:?}"
            );
        }
    }
    let by_state = s.counts_by_state().await.unwrap();
    assert_eq!(by_state.get("canceled"), Some(&4));
    assert_eq!(by_state.get("queued"), Some(&13));
    assert_eq!(by_state.len(), 2);
}

/// The stored listing text of every job equals the job as read from its rows, and none is
/// missing once the writes have committed.
async fn assert_listing_matches_rows(s: &Store, dir: &std::path::Path) {
    let page = s
        .list_jobs_read(ListParams {
            limit: Some(500),
            ..ListParams::default()
        })
        .await
        .unwrap();
    for listed in &page.jobs {
        let read = s.get_job(listed.id.0.clone()).await.unwrap();
        assert_eq!(listed, &read, "job {} as listed and as read", listed.id.0);
    }
    let other = rusqlite::Connection::open(dir.join("genq.db")).unwrap();
    let (missing, texts, jobs): (i64, i64, i64) = other
        .query_row(
            "SELECT (SELECT COUNT(*) FROM job_wire WHERE text IS NULL),
                    (SELECT COUNT(*) FROM job_wire), (SELECT COUNT(*) FROM jobs)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(missing, 0, "jobs without their listing text after a commit");
    assert_eq!(texts, jobs, "a listing text for every job");
}

#[tokio::test]
async fn listed_jobs_follow_every_change_to_a_job_its_outputs_and_uploads() {
    let (d, s, _t) = store().await;
    let a = created(s.create_job(new_job(0, "a lighthouse")).await.unwrap());
    let b = created(s.create_job(new_job(1, "a harbour")).await.unwrap());
    assert_listing_matches_rows(&s, d.path()).await;
    s.transition(a.id.clone(), Transition::Submitting)
        .await
        .unwrap();
    s.transition(
        a.id.clone(),
        Transition::Submitted {
            remote_id: "task-1".into(),
            request_id: Some("req-1".into()),
        },
    )
    .await
    .unwrap();
    s.set_progress(a.id.clone(), 40).await.unwrap();
    assert_listing_matches_rows(&s, d.path()).await;
    s.transition(
        a.id.clone(),
        Transition::Finished {
            outputs: vec![OutputRecord {
                index: 0,
                role: genq_protocol::job::OutputRole::Image,
                label: None,
                format: Some("png".into()),
                source_url: "https://example.com/0.png".into(),
            }],
            request_id: None,
            generation_ms: 1200,
        },
    )
    .await
    .unwrap();
    assert_listing_matches_rows(&s, d.path()).await;
    s.output_stored(
        a.id.clone(),
        0,
        OutputFile {
            path: "2026/12/a/0.png".into(),
            sha256: "ab".repeat(32),
            size: 1234,
            mime: "image/png".into(),
            dims: Some((64, 64)),
        },
    )
    .await
    .unwrap();
    s.upload_recorded(
        a.id.clone(),
        0,
        "s3".into(),
        Some("s3://b/0.png".into()),
        None,
    )
    .await
    .unwrap();
    s.transition(b.id.clone(), Transition::Canceled)
        .await
        .unwrap();
    assert_listing_matches_rows(&s, d.path()).await;
    let listed = s.list_jobs_read(ListParams::default()).await.unwrap();
    let a_listed = listed.jobs.iter().find(|j| j.id == a.id).unwrap();
    assert_eq!(a_listed.progress, Some(40));
    assert_eq!(
        a_listed.outputs[0].uploads[0].url.as_deref(),
        Some("s3://b/0.png")
    );

    // Another program changes a job, an output and an upload: the listing shows it at once.
    let other = rusqlite::Connection::open(d.path().join("genq.db")).unwrap();
    other
        .execute_batch(&format!(
            "UPDATE jobs SET model = 'changed-elsewhere' WHERE id = '{b}';
             UPDATE outputs SET size = 99 WHERE job_id = '{a}';
             UPDATE uploads SET url = 's3://b/moved.png' WHERE job_id = '{a}';",
            a = a.id.0,
            b = b.id.0,
        ))
        .unwrap();
    let listed = s.list_jobs_read(ListParams::default()).await.unwrap();
    let a_listed = listed.jobs.iter().find(|j| j.id == a.id).unwrap();
    let b_listed = listed.jobs.iter().find(|j| j.id == b.id).unwrap();
    assert_eq!(b_listed.model.as_deref(), Some("changed-elsewhere"));
    assert_eq!(a_listed.outputs[0].size, Some(99));
    assert_eq!(
        a_listed.outputs[0].uploads[0].url.as_deref(),
        Some("s3://b/moved.png")
    );
    // The next write renders them again.
    s.create_job(new_job(2, "a third")).await.unwrap();
    assert_listing_matches_rows(&s, d.path()).await;
}

#[tokio::test]
async fn an_upgraded_database_lists_its_jobs_and_renders_their_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("genq.db");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        migrations::migrate_to(&mut conn, 7);
        conn.execute_batch(
            "INSERT INTO jobs (id, kind, provider, model, state, spec, prompt, created_at,
                               updated_at, num)
             VALUES ('0190a0b0-0000-7000-8000-000000000001', 'image', 'dashscope', 'm',
                     'succeeded', '{\"provider\":\"dashscope\",\"prompt\":\"old\"}', 'old',
                     1000, 2000, 1);
             UPDATE counters SET value = 1 WHERE name = 'job_num';",
        )
        .unwrap();
    }
    let (s, _t) = Store::open(&path).unwrap();
    let page = s.list_jobs_read(ListParams::default()).await.unwrap();
    assert_eq!(page.jobs.len(), 1);
    assert_eq!(page.jobs[0].params.prompt, "old");
    // A write renders what the upgrade left without text.
    s.create_job(new_job(0, "new")).await.unwrap();
    assert_listing_matches_rows(&s, dir.path()).await;
}
