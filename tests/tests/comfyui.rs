//! ComfyUI instances (`type = "comfyui"`) end to end against the fake ComfyUI: a workflow
//! with bindings as a model, outputs fetched through `/view` and verified, progress from the
//! websocket, refusals naming the job field, cancel, a daemon restart that resumes by prompt
//! id, a ComfyUI restart that loses the queue, and input images uploaded through
//! `/upload/image` for an image-to-image workflow.

use std::time::Duration;

use genq_e2e::fakes::comfyui::{
    IMG2IMG_BINDINGS, IMG2IMG_WORKFLOW, SAMPLE_BINDINGS, SAMPLE_WORKFLOW,
};
use genq_e2e::fakes::{ComfyFake, Endpoint, Fault};
use genq_e2e::harness::Home;
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(60);

fn home_for(fake: &ComfyFake) -> Home {
    let home = Home::with_config(&format!(
        "[providers.comfy]\ntype = \"comfyui\"\nbase_url = \"{}\"\nlost_grace_s = 1\n\
         typical_s = 0.2\nrequests_per_second = 1000\n\
         [providers.comfy.workflows.sd15]\nfile = \"sd15_api.json\"\n{SAMPLE_BINDINGS}\
         [providers.comfy.workflows.sd15_img2img]\nfile = \"img2img_api.json\"\n\
         {IMG2IMG_BINDINGS}",
        fake.base_url()
    ));
    std::fs::write(home.dir.path().join("sd15_api.json"), SAMPLE_WORKFLOW).unwrap();
    std::fs::write(home.dir.path().join("img2img_api.json"), IMG2IMG_WORKFLOW).unwrap();
    home
}

/// A small real PNG written into the home; its path and bytes.
fn input_png(home: &Home, name: &str, shade: u8) -> (String, Vec<u8>) {
    let mut bytes = Vec::new();
    image::RgbImage::from_pixel(8, 8, image::Rgb([shade, 40, 90]))
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    let path = home.dir.path().join(name);
    std::fs::write(&path, &bytes).unwrap();
    (path.to_str().unwrap().to_string(), bytes)
}

/// The value of the `LoadImage` input in the `n`th prompt the fake received.
fn load_image_input(fake: &ComfyFake, n: usize) -> String {
    let sent = fake.requests_to(Endpoint::Submit)[n].body.clone().unwrap();
    sent["prompt"]["10"]["inputs"]["image"]
        .as_str()
        .unwrap_or_default()
        .to_string()
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

    // An input image for a workflow with no image binding: refused with the fix.
    let (path, _) = input_png(&home, "in.png", 10);
    let said = home
        .refused_async(&[
            "submit",
            "--provider",
            "comfy",
            "--model",
            "sd15",
            "--prompt",
            "x",
            "--image",
            &path,
        ])
        .await;
    assert!(
        said.contains("image") && said.contains("image = \"NODE.inputs.INPUT\""),
        "{said}"
    );
    assert!(fake.requests_to(Endpoint::Upload).is_empty());

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_img2img_job_uploads_its_image_and_the_load_image_node_names_the_upload() {
    let fake = ComfyFake::start().await;
    fake.set_step_time(Duration::from_millis(5));
    let home = home_for(&fake);
    let (path, bytes) = input_png(&home, "cat.png", 200);
    let args = [
        "--model",
        "sd15_img2img",
        "--prompt",
        "a cat in oils",
        "--image",
        &path,
    ];
    let job = home.submit_job("comfy", &args).await;
    let job = home.finished(job["id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["outputs"].as_array().map(Vec::len), Some(1), "{job}");

    let uploads = fake.requests_to(Endpoint::Upload);
    assert_eq!(uploads.len(), 1);
    let name = load_image_input(&fake, 0);
    assert!(name.ends_with(".png"), "{name}");
    assert_eq!(fake.input_file(&name).as_deref(), Some(&bytes[..]));

    // The same image again: ComfyUI finds the identical file and keeps its name.
    let job = home.submit_job("comfy", &args).await;
    let job = home.finished(job["id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(load_image_input(&fake, 1), name);
    assert_eq!(fake.input_count(), 1);

    // Another image: another file, read by the next prompt.
    let (other, other_bytes) = input_png(&home, "cat.png", 20);
    let job = home
        .submit_job(
            "comfy",
            &[
                "--model",
                "sd15_img2img",
                "--prompt",
                "x",
                "--image",
                &other,
            ],
        )
        .await;
    let job = home.finished(job["id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let second = load_image_input(&fake, 2);
    assert_ne!(second, name);
    assert_eq!(fake.input_file(&second).as_deref(), Some(&other_bytes[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_failures_get_their_kinds_and_nothing_is_prompted_twice() {
    let fake = ComfyFake::start().await;
    fake.set_step_time(Duration::from_millis(5));
    let home = home_for(&fake);
    let (path, bytes) = input_png(&home, "in.png", 90);
    let args = ["--model", "sd15_img2img", "--prompt", "x", "--image", &path];

    // Too big for the server: refused, final, no prompt sent.
    fake.inject(
        Endpoint::Upload,
        Fault::Reply {
            status: 413,
            body: json!(null),
        },
        1,
    );
    let job = home.submit_job("comfy", &args).await;
    let job = home.finished(job["id"].as_str().unwrap()).await;
    assert_eq!(kind(&job), "invalid_params", "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("image:"),
        "{job}"
    );
    assert!(fake.requests_to(Endpoint::Submit).is_empty());

    // A server error on the upload: nothing was made, so the upload is tried again.
    fake.inject(Endpoint::Upload, Fault::ServerError(500), 1);
    let job = home.submit_job("comfy", &args).await;
    let job = home.finished(job["id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(fake.requests_to(Endpoint::Upload).len(), 3);
    assert_eq!(fake.prompt_ids().len(), 1);
    assert_eq!(
        fake.input_file(&load_image_input(&fake, 0)).as_deref(),
        Some(&bytes[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_upload_follows_comfyui_renaming_dedupe_and_errors() {
    let fake = ComfyFake::start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/upload/image", fake.base_url());
    let upload = |fields: &[(&str, &str)], file: Option<(&str, &[u8])>| {
        let mut body = Vec::new();
        for (k, v) in fields {
            body.extend_from_slice(
                format!("--b\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                    .as_bytes(),
            );
        }
        if let Some((name, bytes)) = file {
            body.extend_from_slice(
                format!(
                    "--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--b--\r\n");
        http.post(&url)
            .header("content-type", "multipart/form-data; boundary=b")
            .body(body)
            .send()
    };
    let named = |r: reqwest::Response| async move {
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()
    };

    let first = named(upload(&[], Some(("x.png", b"one"))).await.unwrap()).await;
    assert_eq!(
        first,
        json!({"name": "x.png", "subfolder": "", "type": "input"})
    );
    let same = named(upload(&[], Some(("x.png", b"one"))).await.unwrap()).await;
    assert_eq!(same["name"], "x.png");
    let other = named(upload(&[], Some(("x.png", b"two"))).await.unwrap()).await;
    assert_eq!(other["name"], "x (1).png");
    let third = named(upload(&[], Some(("x.png", b"three"))).await.unwrap()).await;
    assert_eq!(third["name"], "x (2).png");
    let replaced = named(
        upload(&[("overwrite", "true")], Some(("x.png", b"new")))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(replaced["name"], "x.png");
    assert_eq!(fake.input_file("x.png").as_deref(), Some(&b"new"[..]));
    let sub = named(
        upload(&[("subfolder", "genq")], Some(("y.png", b"y")))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        sub,
        json!({"name": "y.png", "subfolder": "genq", "type": "input"})
    );
    let viewed = http
        .get(format!(
            "{}/view?filename=y.png&subfolder=genq&type=input",
            fake.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(viewed.bytes().await.unwrap().as_ref(), b"y");

    for (fields, file, status) in [
        (&[][..], None, 400),
        (&[][..], Some(("", &b"z"[..])), 400),
        (
            &[("subfolder", "../up")][..],
            Some(("z.png", &b"z"[..])),
            400,
        ),
        (&[("type", "models")][..], Some(("z.png", &b"z"[..])), 500),
    ] {
        let r = upload(fields, file).await.unwrap();
        assert_eq!(r.status(), status, "{fields:?}");
    }
}
