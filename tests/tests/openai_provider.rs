//! OpenAI-compatible providers (`type = "openai"`) end to end, against the fake OpenAI Images
//! API: base64 and URL replies stored and verified, the request fields a model takes, errors
//! with their kinds, `Retry-After`, and a billed request never sent twice (a 500, a daemon
//! killed mid-request).

use std::time::Duration;

use genq_e2e::fakes::openai::FORBIDDEN_WORD;
use genq_e2e::fakes::{Endpoint, Fault, OpenAiFake};
use genq_e2e::harness::Home;
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(60);

/// A home with the instance `oa` of type openai at the fake, its key in the environment.
fn home_for(fake: &OpenAiFake, extra: &str) -> Home {
    genq_e2e::harness::init_tls();
    let mut home = Home::new();
    home.env("GENQ_TEST_OA_KEY", &fake.key());
    home.write_config(&format!(
        "[providers.oa]\ntype = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"GENQ_TEST_OA_KEY\"\n\
         models = [\"gpt-image-1\", \"dall-e-3\", \"gateway-model\"]\n\
         requests_per_second = 1000\n{extra}",
        fake.base_url()
    ));
    home
}

async fn run_job(home: &Home, args: &[&str]) -> Value {
    let job = home.submit_job("oa", args).await;
    let id = job["id"].as_str().expect("a job id").to_string();
    home.finished(&id).await
}

fn stored_png(job: &Value, i: usize) -> image::RgbaImage {
    let path = job["outputs"][i]["path"]
        .as_str()
        .unwrap_or_else(|| panic!("{job}"));
    image::load_from_memory(&std::fs::read(path).expect("the stored output"))
        .expect("a decodable image")
        .to_rgba8()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base64_and_url_replies_are_stored_verified_with_the_fields_the_model_takes() {
    let fake = OpenAiFake::start().await;
    let home = home_for(&fake, "");

    let job = run_job(
        &home,
        &[
            "--prompt",
            "a paper lantern",
            "--n",
            "2",
            "--param",
            "quality=high",
            "--size",
            "1024x1536",
        ],
    )
    .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["outputs"].as_array().map(Vec::len), Some(2), "{job}");
    assert_ne!(stored_png(&job, 0), stored_png(&job, 1));
    let sent = &fake.requests_to(Endpoint::Submit)[0];
    assert_eq!(sent.path, "/v1/images/generations");
    let body = sent.body.clone().expect("a JSON body");
    assert_eq!(body["model"], "gpt-image-1");
    assert_eq!(body["quality"], "high");
    assert_eq!(body["n"], 2);
    assert_eq!(body["size"], "1024x1536");
    assert!(
        sent.header("authorization")
            .is_some_and(|a| a.ends_with(&fake.key()))
    );

    // dall-e-3 answers with a URL: fetched at once, stored like any output.
    let job = run_job(
        &home,
        &[
            "--model",
            "dall-e-3",
            "--prompt",
            "a lighthouse",
            "--param",
            "style=natural",
        ],
    )
    .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(fake.requests_to(Endpoint::Download).len(), 1);
    stored_png(&job, 0);

    // A field the model does not take is refused before anything is sent, naming it.
    let said = home
        .refused_async(&[
            "submit",
            "--provider",
            "oa",
            "--prompt",
            "x",
            "--param",
            "style=vivid",
        ])
        .await;
    assert!(said.contains("params.style"), "{said}");
    assert!(
        said.contains("quality"),
        "the fields it takes are listed: {said}"
    );
    assert_eq!(fake.requests_to(Endpoint::Submit).len(), 2);

    // The instance's models and fields are in the catalog.
    let models = home.json_async(&["models", "--json"]).await;
    let ids: Vec<&str> = models
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["supplier"] == "oa")
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 3, "{models}");
    let providers = home.ok_async(&["providers"]).await;
    assert!(providers.contains("oa (openai)"), "{providers}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_image_goes_to_the_edits_endpoint_as_multipart() {
    let fake = OpenAiFake::start().await;
    let home = home_for(&fake, "");
    let input = home.dir.path().join("input.png");
    std::fs::write(&input, genq_e2e::fakes::make_png("input")).unwrap();
    let job = run_job(
        &home,
        &[
            "--prompt",
            "make it blue",
            "--image",
            input.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let sent = &fake.requests_to(Endpoint::Submit)[0];
    assert_eq!(sent.path, "/v1/images/edits");
    assert!(
        sent.header("content-type")
            .is_some_and(|c| c.starts_with("multipart/form-data"))
    );
    assert!(
        sent.body_text
            .contains("name=\"prompt\"\r\n\r\nmake it blue")
    );

    // dall-e-3 takes no input image: refused before sending.
    let said = home
        .refused_async(&[
            "submit",
            "--provider",
            "oa",
            "--model",
            "dall-e-3",
            "--prompt",
            "x",
            "--image",
            input.to_str().unwrap(),
        ])
        .await;
    assert!(said.contains("image"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_get_their_kinds_and_a_billed_request_is_never_sent_twice() {
    let fake = OpenAiFake::start().await;
    let home = home_for(&fake, "");
    let kind = |job: &Value| {
        job["error"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };

    let job = run_job(&home, &["--prompt", &format!("a {FORBIDDEN_WORD} scene")]).await;
    assert_eq!(
        (job["state"].as_str(), kind(&job).as_str()),
        (Some("failed"), "content_policy"),
        "{job}"
    );

    // The server's own refusal of a field names the param.
    let job = run_job(
        &home,
        &[
            "--model",
            "gateway-model",
            "--prompt",
            "x",
            "--size",
            "4000x4000",
        ],
    )
    .await;
    assert_eq!(kind(&job), "invalid_params", "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("size:"),
        "{job}"
    );

    fake.set_quota_spent(true);
    let job = run_job(&home, &["--prompt", "x"]).await;
    assert_eq!(kind(&job), "quota", "{job}");
    fake.set_quota_spent(false);

    // A 429 with Retry-After is waited out and sent again (nothing was made).
    fake.rate_limit_next(1, Some(1));
    let job = run_job(&home, &["--prompt", "after a pause"]).await;
    assert_eq!(job["state"], "succeeded", "{job}");

    // A 500 may come after the images were made: not sent again.
    let before = fake.requests_to(Endpoint::Submit).len();
    fake.inject(Endpoint::Submit, Fault::AcceptThenError(500), 1);
    let job = run_job(&home, &["--prompt", "made then lost"]).await;
    assert_eq!(kind(&job), "interrupted", "{job}");
    assert_eq!(fake.requests_to(Endpoint::Submit).len(), before + 1);

    // A wrong key: auth.
    fake.set_key("sk-another");
    let job = run_job(&home, &["--prompt", "x"]).await;
    assert_eq!(kind(&job), "auth", "{job}");
    assert!(!home.log().contains(&fake.key()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_during_the_request_fails_the_job_interrupted_without_resending() {
    let fake = OpenAiFake::start().await;
    fake.inject(Endpoint::Submit, Fault::Delay(Duration::from_secs(8)), 1);
    let home = home_for(&fake, "");
    let id = home.submit("oa", "slow to paint").await;
    assert!(fake.wait_for_request(Endpoint::Submit, PATIENCE).await);
    home.kill9();
    home.start_daemon();
    let mut c = home.client().await;
    let job = c.ok("jobs.get", json!({"id": id})).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["error"]["kind"], "interrupted", "{job}");
    assert_eq!(fake.requests_to(Endpoint::Submit).len(), 1);
    // `genq retry` sends it again, on purpose.
    let new_id = home.ok_async(&["retry", &id[..12]]).await;
    let retried = home.finished(new_id.trim()).await;
    assert_eq!(retried["state"], "succeeded", "{retried}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canceled_request_is_not_sent_again() {
    let fake = OpenAiFake::start().await;
    fake.inject(Endpoint::Submit, Fault::Delay(Duration::from_secs(8)), 1);
    let home = home_for(&fake, "");
    let id = home.submit("oa", "never mind").await;
    assert!(fake.wait_for_request(Endpoint::Submit, PATIENCE).await);
    home.ok_async(&["cancel", &id[..12]]).await;
    let job = home.finished(&id).await;
    assert_eq!(job["state"], "canceled", "{job}");
    assert_eq!(fake.requests_to(Endpoint::Submit).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_without_models_in_its_table_lists_them_at_v1_models() {
    let fake = OpenAiFake::start().await;
    fake.set_models(Some(vec![
        "gpt-image-1".into(),
        "gpt-4o".into(),
        "black-forest-labs/FLUX.1-schnell".into(),
    ]));
    genq_e2e::harness::init_tls();
    let mut home = Home::new();
    home.env("GENQ_TEST_OA_KEY", &fake.key());
    home.write_config(&format!(
        "[providers.gw]\ntype = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"GENQ_TEST_OA_KEY\"\n",
        fake.base_url()
    ));
    home.start_daemon();
    // The listing runs in the background once the daemon is up: wait for its rows.
    let deadline = std::time::Instant::now() + PATIENCE;
    let ids = loop {
        let models = home.json_async(&["models", "--json"]).await;
        let ids: Vec<String> = models
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["supplier"] == "gw")
            .filter_map(|m| m["id"].as_str().map(str::to_string))
            .collect();
        if ids.iter().any(|i| i.contains("FLUX")) || std::time::Instant::now() > deadline {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        ids.contains(&"black-forest-labs/FLUX.1-schnell".to_string()),
        "{ids:?}"
    );
    assert!(
        !ids.contains(&"gpt-4o".to_string()),
        "a chat model is not an image model: {ids:?}"
    );
    let sent = fake.requests_to(Endpoint::Poll);
    assert_eq!(sent[0].path, "/v1/models");
}
