//! `genq jobs --json` over many pages: every job once, newest first, each as `genq show`
//! gives it, also after another program changed a job under the running daemon.

// The benches' importer: this test uses one of its two helpers.
#[path = "../benches/shared/mod.rs"]
#[allow(dead_code)]
mod shared;

use genq_e2e::harness::Home;
use serde_json::{Value, json};
use shared::home_with_imported_jobs;

/// A home whose daemon holds `count` jobs, a third of them finished by hand, as another
/// program would: the daemon must list what is there now.
async fn home_with_jobs(count: u32) -> Home {
    home_with_imported_jobs(
        count,
        |i| format!("job {i}: a \"quoted\" lighthouse\nat dusk, ünïcode"),
        "UPDATE jobs SET state = 'succeeded', finished_at = created_at + 1000, \
         updated_at = created_at + 1000 WHERE num % 3 = 0",
        Home::start_daemon,
    )
    .await
}

fn listing(home: &Home) -> (String, Vec<Value>) {
    let text = home.ok(&["jobs", "--json", "--limit", "5000"]);
    let jobs: Vec<Value> = serde_json::from_str(&text).expect("a JSON array");
    (text, jobs)
}

#[tokio::test]
async fn a_listing_of_many_pages_has_every_job_once_as_show_gives_it() {
    let home = home_with_jobs(1_203).await;
    let (text, jobs) = listing(&home);
    // Piped, it is one line: jobs as the daemon keeps them, not re-indented.
    assert_eq!(text.trim_end().lines().count(), 1, "one line when piped");
    assert_eq!(jobs.len(), 1_203);
    let nums: Vec<u64> = jobs.iter().map(|j| j["num"].as_u64().unwrap()).collect();
    let newest_first: Vec<u64> = (1..=1_203).rev().collect();
    assert_eq!(nums, newest_first, "every job once, newest first");
    assert_eq!(
        jobs.iter().filter(|j| j["state"] == "succeeded").count(),
        401
    );
    // A limit that ends inside a page: the last request asks for just the rest.
    let some: Vec<Value> =
        serde_json::from_str(&home.ok(&["jobs", "--json", "--limit", "1100"])).expect("JSON");
    let some_nums: Vec<u64> = some.iter().map(|j| j["num"].as_u64().unwrap()).collect();
    assert_eq!(some_nums, newest_first[..1100]);
    let mut client = home.client().await;
    for j in jobs.iter().step_by(97) {
        let shown = client.ok("jobs.get", json!({ "id": j["id"] })).await;
        assert_eq!(j, &shown, "job {} as listed and as shown", j["num"]);
    }

    // Another program changes a job under the running daemon: the next listing has it.
    let other = rusqlite::Connection::open(&home.paths.db).expect("open the database");
    other
        .execute(
            "UPDATE jobs SET state = 'failed', error_kind = 'provider', \
             error_message = 'changed elsewhere' WHERE num = 600",
            (),
        )
        .expect("change a job");
    let (_, jobs) = listing(&home);
    let changed = jobs.iter().find(|j| j["num"] == 600).expect("job 600");
    assert_eq!(changed["state"], "failed");
    assert_eq!(changed["error"]["message"], "changed elsewhere");
    let shown = client.ok("jobs.get", json!({ "id": changed["id"] })).await;
    assert_eq!(changed, &shown);
}
