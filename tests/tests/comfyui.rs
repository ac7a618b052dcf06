//! ComfyUI instances (`type = "comfyui"`) end to end against the fake ComfyUI: a workflow
//! with bindings as a model, outputs fetched through `/view` and verified, progress from the
//! websocket, refusals naming the job field, cancel, a daemon restart that resumes by prompt
//! id, and a ComfyUI restart that loses the queue.

use std::time::Duration;

use genq_e2e::fakes::comfyui::{SAMPLE_BINDINGS, SAMPLE_WORKFLOW};
use genq_e2e::fakes::{ComfyFake, Endpoint};
use genq_e2e::harness::Home;
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(60);

fn home_for(fake: &ComfyFake) -> Home {
    let home = Home::with_config(&format!(
        "[providers.comfy]\ntype = \"comfyui\"\nbase_url = \"{}\"\nlost_grace_s = 1\n\
         typical_s = 0.2\nrequests_per_second = 1000\n\
         [providers.comfy.workflows.sd15]\nfile = \"sd15_api.json\"\n{SAMPLE_BINDINGS}",
        fake.base_url()
    ));
    std::fs::write(home.dir.path().join("sd15_api.json"), SAMPLE_WORKFLOW).unwrap();
    home
}

fn kind(job: &Value) -> String {
    job["error"]["kind"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_runs_with_its_bound_fields_shows_progress_and_stores_verified_outputs() {
    let fake = ComfyFake::start().await;
    fake.set_step_time(Duration::from_millis(60));
    let home = home_for(&fake);
    home.start_daemon();
    let mut events = home.subscribed().await;
    let job = home
        .submit_job(
            "comfy",
            &[
                "--prompt",
                "a lighthouse",
                "--seed",
                "7",
                "--steps",
                "30",
                "--n",
                "2",
                "--size",
                "512x768",
            ],
        )
        .await;
    let id = job["id"].as_str().unwrap().to_string();
    let seen = events
        .events_until(|e| {
            e["type"] == "progress" && e["progress"].as_u64().is_some_and(|p| p > 0 && p < 100)
        })
        .await;
    assert!(!seen.is_empty());
    let job = home.finished(&id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["outputs"].as_array().map(Vec::len), Some(2), "{job}");
    for out in job["outputs"].as_array().unwrap() {
        let bytes = std::fs::read(out["path"].as_str().unwrap()).unwrap();
        image::load_from_memory(&bytes).expect("a decodable PNG");
    }
    let sent = fake.requests_to(Endpoint::Submit)[0].body.clone().unwrap();
    let graph = &sent["prompt"];
    assert_eq!(graph["2"]["inputs"]["text"], "a lighthouse");
    assert_eq!(graph["5"]["inputs"]["seed"], 7);
    assert_eq!(graph["5"]["inputs"]["steps"], 30);
    assert_eq!(graph["4"]["inputs"]["height"], 768);
    assert_eq!(graph["4"]["inputs"]["batch_size"], 2);
    assert!(sent["client_id"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(fake.requests_to(Endpoint::Download).len(), 2);
    let providers = home.ok_async(&["providers"]).await;
    assert!(providers.contains("comfy (comfyui)"), "{providers}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_failures_name_the_field_and_get_their_kinds() {
    let fake = ComfyFake::start().await;
    let home = home_for(&fake);

    // A field the workflow has no binding for: refused before anything is sent.
    let said = home
        .refused_async(&[
            "submit",
            "--provider",
            "comfy",
            "--prompt",
            "x",
            "--guidance",
            "5",
        ])
        .await;
    assert!(
        said.contains("guidance") && said.contains("binding"),
        "{said}"
    );
    assert!(fake.requests_to(Endpoint::Submit).is_empty());

    // ComfyUI's own validation, named by the bound field.
    let job = home
        .submit_job("comfy", &["--prompt", "x", "--size", "8x8"])
        .await;
    let job = home.finished(job["id"].as_str().unwrap()).await;
    assert_eq!(kind(&job), "invalid_params", "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("width:"),
        "{job}"
    );

    // A node failing while it runs.
    fake.fail_next("Allocation on device 0 would exceed allowed memory. (out of memory)");
    let job = home.submit_job("comfy", &["--prompt", "x"]).await;
    let job = home.finished(job["id"].as_str().unwrap()).await;
    assert_eq!(kind(&job), "provider", "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("out of memory"),
        "{job}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_prompt_on_the_server() {
    let fake = ComfyFake::start().await;
    fake.set_step_time(Duration::from_millis(300));
    let home = home_for(&fake);
    let id = home.submit("comfy", "a long one").await;
    assert!(fake.wait_for_request(Endpoint::Poll, PATIENCE).await);
    home.ok_async(&["cancel", &id[..12]]).await;
    let job = home.finished(&id).await;
    assert_eq!(job["state"], "canceled", "{job}");
    // `/interrupt` while it runs, a queue delete while it waits: either way the server hears.
    assert!(fake.wait_for_request(Endpoint::Other, PATIENCE).await);
    let stop = fake.requests_to(Endpoint::Other);
    assert!(
        stop.iter()
            .any(|r| r.path == "/interrupt" || r.path == "/queue"),
        "{:?}",
        stop.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_restart_mid_job_resumes_by_prompt_id() {
    let fake = ComfyFake::start().await;
    fake.set_step_time(Duration::from_millis(100));
    let home = home_for(&fake);
    let id = home.submit("comfy", "survives a restart").await;
    assert!(fake.wait_for_request(Endpoint::Poll, PATIENCE).await);
    home.kill9();
    home.start_daemon();
    let job = home.finished(&id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(fake.prompt_ids().len(), 1, "sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comfyui_restart_that_loses_the_queue_fails_the_job_interrupted_and_retry_resubmits() {
    let fake = ComfyFake::start().await;
    fake.set_step_time(Duration::from_millis(500));
    let home = home_for(&fake);
    let id = home.submit("comfy", "lost in a restart").await;
    assert!(fake.wait_for_request(Endpoint::Poll, PATIENCE).await);
    fake.restart();
    let job = home.finished(&id).await;
    assert_eq!(kind(&job), "interrupted", "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no longer knows"),
        "{job}"
    );

    fake.set_step_time(Duration::from_millis(5));
    let new_id = home.ok_async(&["retry", &id[..12]]).await;
    let mut c = home.client().await;
    let retried = c.ok("jobs.get", json!({"id": new_id.trim()})).await;
    let retried = home.finished(retried["id"].as_str().unwrap()).await;
    assert_eq!(retried["state"], "succeeded", "{retried}");
    assert_eq!(fake.prompt_ids().len(), 2);
}
