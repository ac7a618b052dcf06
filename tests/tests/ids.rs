//! Ids as people see them: every job has a number (1, 2, 3 … per home) that lists show and
//! every command takes; full ids and unique starts of ids keep working; numbers survive a
//! restart and are given to the jobs of an older database in the order they were made.

use futures::future::join_all;
use genq_e2e::fakes::{ModelScopeFake, MsScript};
use genq_e2e::harness::{Home, stderr};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

fn home_for(ms: &ModelScopeFake, extra: &str) -> Home {
    // Fake tasks are quick: the first poll need not wait the real models' usual time.
    Home::with_modelscope(ms, &format!("typical_s = 0.2\n{extra}"))
}

/// Submits one job per prompt, all at once, and returns what each `genq submit` printed.
async fn submit_together(home: &Home, prompts: &[&str]) -> Vec<String> {
    let runs = prompts.iter().map(|p| async move {
        home.ok_async(&["submit", "--provider", "modelscope", "--prompt", p])
            .await
    });
    join_all(runs)
        .await
        .into_iter()
        .map(|out| out.trim().to_string())
        .collect()
}

/// The ID column of `genq jobs`.
async fn shown_ids(home: &Home) -> Vec<String> {
    let table = home.ok_async(&["jobs"]).await;
    let mut lines = table.lines();
    assert!(lines.next().is_some_and(|h| h.starts_with("ID")), "{table}");
    lines
        .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
        .collect()
}

/// `jobs --json`, as (prompt, uuid, num) per job.
async fn listed(home: &Home) -> Vec<(String, String, u64)> {
    let jobs = home.json_async(&["jobs", "--json"]).await;
    jobs.as_array()
        .expect("a JSON array")
        .iter()
        .map(|j| {
            (
                j["params"]["prompt"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                j["id"].as_str().expect("id is the full id").to_string(),
                j["num"].as_u64().unwrap_or_else(|| panic!("no num: {j}")),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_made_together_show_distinct_ids_that_every_command_takes() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(200)));
    let archive = tempfile::tempdir().unwrap();
    let home = home_for(
        &ms,
        &format!(
            "[storage.archive]\ntype = \"dir\"\npath = \"{}\"\n",
            archive.path().display()
        ),
    );
    home.start_daemon();
    let prompts = ["fox one", "fox two", "fox three", "fox four"];
    let printed = submit_together(&home, &prompts).await;

    let shown = shown_ids(&home).await;
    assert_eq!(shown.len(), 4, "{shown:?}");
    let distinct: BTreeSet<_> = shown.iter().collect();
    assert_eq!(distinct.len(), 4, "ids shown twice: {shown:?}");
    let mut submitted = printed.clone();
    submitted.sort();
    let mut in_table = shown.clone();
    in_table.sort();
    assert_eq!(submitted, in_table, "submit prints the id the list shows");

    // `wait` takes every shown id at once.
    let mut wait = vec!["wait"];
    wait.extend(shown.iter().map(String::as_str));
    let waited = home.ok_async(&wait).await;
    assert_eq!(waited.matches("succeeded").count(), 4, "{waited}");

    let jobs = listed(&home).await;
    for (prompt, uuid, num) in &jobs {
        let num = num.to_string();
        assert!(shown.contains(&num), "{num} not in {shown:?}");
        let job = home.json_async(&["show", &num, "--json"]).await;
        assert_eq!(&job["id"], uuid, "show {num}");
        let spec = home.json_async(&["export", &num]).await;
        assert_eq!(&spec["prompt"], prompt, "export {num}");
    }
    let (_, uuid, num) = &jobs[1];
    let num = num.to_string();
    let text = home.ok_async(&["show", &num]).await;
    assert!(
        text.contains(&format!("job:         {num}\nid:          {uuid}\n")),
        "{text}"
    );
    let uploaded = home
        .ok_async(&["upload", &num, "--target", "archive"])
        .await;
    assert!(
        uploaded.starts_with(&format!("{num}  output 0  archive")),
        "{uploaded}"
    );
    // The full id, in any case, and a unique start of it still name the job.
    for given in [uuid.clone(), uuid.to_uppercase(), uuid[..28].to_string()] {
        let job = home.json_async(&["show", &given, "--json"]).await;
        assert_eq!(&job["id"], uuid, "show {given}");
    }

    // The old short form names all four jobs: refused, and the way out is named.
    let out = home.run_async(&["show", &uuid[..8]]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("4 jobs") && err.contains("number"), "{err}");
    // A number no job has is named in the error.
    let err = home.refused_async(&["show", "99"]).await;
    assert!(err.contains("no job 99; job numbers go up to 4"), "{err}");
    let err = home.refused_async(&["cancel", "x1"]).await;
    assert!(err.contains("\"x1\" is not a job number or id"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_retry_and_watch_take_the_shown_id() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_secs(600)));
    let home = home_for(&ms, "");
    home.start_daemon();
    let printed = submit_together(&home, &["slow a", "slow b"]).await;
    let jobs = listed(&home).await;
    let (_, first_uuid, first) = jobs
        .iter()
        .find(|(p, ..)| p == "slow a")
        .cloned()
        .expect("job a");
    assert!(printed.contains(&first.to_string()), "{printed:?}");
    let first = first.to_string();

    let canceled = home.ok_async(&["cancel", &first]).await;
    assert_eq!(canceled.trim(), format!("{first} canceled"));
    let again = home.run_async(&["cancel", &first]).await;
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains(&format!("job {first} already canceled")),
        "{}",
        stderr(&again)
    );
    let watched = home.ok_async(&["watch", &first]).await;
    assert!(watched.contains(&format!(" {first} canceled")), "{watched}");

    let retried = home.ok_async(&["retry", &first]).await;
    assert_eq!(retried.trim(), "3", "the retry is the third job");
    let retry = home.json_async(&["show", "3", "--json"]).await;
    assert_eq!(retry["retry_of"], first_uuid.as_str());
    assert_eq!(retry["num"], 3);
    assert_eq!(retry["params"]["prompt"], "slow a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shown_ids_survive_a_restart_and_are_never_given_twice() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(100)));
    let home = home_for(&ms, "");
    submit_together(&home, &["before one", "before two"]).await;
    let before = listed(&home).await;
    home.ok_async(&["daemon", "stop"]).await;
    assert!(home.daemon_pid().is_none());

    // The next command starts a new daemon on the same database.
    assert_eq!(listed(&home).await, before);
    let printed = submit_together(&home, &["after"]).await;
    assert_eq!(printed, ["3"]);
    for (_, uuid, num) in &before {
        let job = home.json_async(&["show", &num.to_string(), "--json"]).await;
        assert_eq!(&job["id"], uuid);
    }
}

/// Takes the database back to the schema genq had before job numbers (version 3), as an
/// older genq left it.
fn downgrade_to_schema_3(db: &std::path::Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch(
        "DROP TRIGGER job_wire_insert;
         DROP TRIGGER job_wire_delete;
         DROP TRIGGER job_wire_update;
         DROP TRIGGER job_wire_output_insert;
         DROP TRIGGER job_wire_output_update;
         DROP TRIGGER job_wire_output_delete;
         DROP TRIGGER job_wire_upload_insert;
         DROP TRIGGER job_wire_upload_update;
         DROP TRIGGER job_wire_upload_delete;
         DROP TABLE job_wire;
         DROP INDEX jobs_by_num;
         ALTER TABLE jobs DROP COLUMN num;
         DROP TABLE counters;
         PRAGMA user_version = 3;",
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_database_gets_numbers_in_the_order_its_jobs_were_made() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(100)));
    let home = home_for(&ms, "");
    for prompt in ["oldest", "middle", "newest"] {
        submit_together(&home, &[prompt]).await;
    }
    home.ok_async(&["daemon", "stop"]).await;
    downgrade_to_schema_3(&home.paths.db);

    let jobs = listed(&home).await;
    let order: Vec<(&str, u64)> = jobs.iter().map(|(p, _, n)| (p.as_str(), *n)).collect();
    assert_eq!(order, [("newest", 3), ("middle", 2), ("oldest", 1)]);
    assert_eq!(shown_ids(&home).await, ["3", "2", "1"]);
    let job: Value = home.json_async(&["show", "1", "--json"]).await;
    assert_eq!(job["params"]["prompt"], "oldest");
    assert_eq!(submit_together(&home, &["next"]).await, ["4"]);
}
