//! The OpenAI-compatible endpoint driven by the official `openai` Python SDK, and the OpenAPI
//! document checked by `openapi-spec-validator`, against the real daemon and the fake
//! ModelScope. The Python comes from `GENQ_PYTHON` (see `.ci/run`).

use genq_e2e::fakes::{ModelScopeFake, MsOutcome, MsScript};
use genq_e2e::harness::{
    Home, catalog_section, create_token, free_port, http_section, python, wait_http,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

/// Runs `script` with the SDK pointed at the daemon; each line it prints is one JSON result.
async fn run_python(python: &Path, script: &str, base: &str, token: &str) -> Vec<Value> {
    let out = tokio::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .env("GENQ_BASE", base)
        .env("GENQ_TOKEN", token)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .output()
        .await
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "python failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

const PRELUDE: &str = r#"
import base64, hashlib, json, os, urllib.request
import openai
base, token = os.environ["GENQ_BASE"], os.environ["GENQ_TOKEN"]
client = openai.OpenAI(base_url=base + "/v1", api_key=token, max_retries=0)
def sha(b): return hashlib.sha256(b).hexdigest()
def report(**kw): print(json.dumps(kw), flush=True)
def failure(call):
    try:
        call()
        return {"raised": None}
    except openai.APIStatusError as e:
        return {"raised": type(e).__name__, "status": e.status_code, "param": getattr(e, "param", None),
                "code": getattr(e, "code", None), "message": str(e),
                "retry_after": e.response.headers.get("retry-after")}
    except openai.APITimeoutError as e:
        return {"raised": type(e).__name__}
"#;

const CASES: &str = r#"
r = client.images.generate(model="modelscope/Qwen/Qwen-Image", prompt="a paper lantern", response_format="b64_json", size="1024x1024")
report(case="b64", created=r.created, n=len(r.data), sha=sha(base64.b64decode(r.data[0].b64_json)))
r = client.images.generate(model="lantern", prompt="a paper lantern, again", response_format="url")
url = r.data[0].url
report(case="url", url=url, sha=sha(urllib.request.urlopen(url).read()))
r = client.images.generate(prompt="the default model", response_format="b64_json")
report(case="default", n=len(r.data))
report(case="size", **failure(lambda: client.images.generate(model="lantern", prompt="x", size="huge")))
report(case="size_range", **failure(lambda: client.images.generate(model="lantern", prompt="x", size="1x99999")))
report(case="model", **failure(lambda: client.images.generate(model="modelscope/no-such-model", prompt="x")))
report(case="unknown_field", **failure(lambda: client.images.generate(prompt="x", extra_body={"colour": "red"})))
bad = openai.OpenAI(base_url=base + "/v1", api_key="genq_wrong", max_retries=0)
report(case="token", **failure(lambda: bad.images.generate(prompt="x")))
report(case="models", ids=[m.id for m in client.models.list()])
"#;

async fn home_with_api(ms: &ModelScopeFake, extra: &str) -> (Home, String, String) {
    let port = free_port();
    let section = http_section(
        port,
        &format!("{extra}[http.models]\nlantern = \"modelscope/Qwen/Qwen-Image\"\n"),
    );
    // LoRA listings go to a closed port: no test reaches the real sites.
    let offline = catalog_section("modelscope", "http://127.0.0.1:1");
    let home = Home::with_modelscope(ms, &format!("{FAST_POLLS}{section}{offline}"));
    home.start_daemon();
    wait_http(&home, port).await;
    let token = create_token(&home, "sdk").await;
    (home, format!("http://127.0.0.1:{port}"), token)
}

fn case<'a>(results: &'a [Value], name: &str) -> &'a Value {
    results
        .iter()
        .find(|r| r["case"] == name)
        .unwrap_or_else(|| panic!("no result for {name}: {results:?}"))
}

fn file_sha(path: &str) -> String {
    Sha256::digest(std::fs::read(path).expect("the output on disk"))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The fake's tasks take milliseconds: poll them at once.
const FAST_POLLS: &str = "typical_s = 0.1\nrequests_per_second = 100\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_generates_images_and_meets_openai_errors() {
    let Some(py) = python() else { return };
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(50)));
    let (home, base, token) = home_with_api(&ms, "").await;
    let results = run_python(&py, &format!("{PRELUDE}{CASES}"), &base, &token).await;

    // Both answers are ordinary jobs whose files are the bytes the SDK got.
    let jobs = home.json_async(&["jobs", "--json"]).await;
    let jobs = jobs.as_array().expect("a job list");
    let by_prompt = |p: &str| {
        jobs.iter()
            .find(|j| j["params"]["prompt"] == p)
            .unwrap_or_else(|| panic!("no job for {p:?}: {jobs:?}"))
    };
    let b64 = case(&results, "b64");
    let job = by_prompt("a paper lantern");
    assert_eq!(job["state"], "succeeded");
    assert_eq!(job["params"]["size"], "1024x1024");
    let path = job["outputs"][0]["path"].as_str().unwrap();
    assert_eq!(b64["sha"], file_sha(path).as_str(), "{b64}");
    assert_eq!(b64["n"], 1);
    let url = case(&results, "url");
    let job = by_prompt("a paper lantern, again");
    assert_eq!(job["model"], "Qwen/Qwen-Image", "the alias names the model");
    assert_eq!(
        url["sha"],
        file_sha(job["outputs"][0]["path"].as_str().unwrap()).as_str()
    );
    assert!(url["url"].as_str().unwrap().contains("sig="), "{url}");
    assert_eq!(case(&results, "default")["n"], 1);

    // Errors as the SDK's exceptions.
    let size = case(&results, "size");
    assert_eq!(size["raised"], "BadRequestError", "{size}");
    assert_eq!(size["param"], "size", "{size}");
    let size = case(&results, "size_range");
    assert_eq!(size["raised"], "BadRequestError", "{size}");
    assert_eq!(size["param"], "size", "{size}");
    let model = case(&results, "model");
    assert_eq!(model["raised"], "NotFoundError", "{model}");
    assert_eq!(model["code"], "model_not_found", "{model}");
    let field = case(&results, "unknown_field");
    assert_eq!(field["raised"], "BadRequestError", "{field}");
    assert_eq!(field["param"], "colour", "{field}");
    let auth = case(&results, "token");
    assert_eq!(auth["raised"], "AuthenticationError", "{auth}");
    let ids = &case(&results, "models")["ids"];
    assert!(ids.as_array().unwrap().contains(&json!("lantern")), "{ids}");
    assert!(
        ids.as_array()
            .unwrap()
            .contains(&json!("modelscope/Qwen/Qwen-Image")),
        "{ids}"
    );

    // A signed link stops working when tampered with.
    let link = url["url"].as_str().unwrap().replace("sig=", "sig=00");
    let tampered = reqwest::get(&link).await.unwrap();
    assert_eq!(tampered.status(), 403);
}

const FAILURES: &str = r#"
report(case="first", **failure(lambda: client.images.generate(prompt="over quota")))
report(case="quota", **failure(lambda: client.images.generate(prompt="over quota, again")))
"#;

const PROVIDER_FAILS: &str = r#"
report(case="provider", **failure(lambda: client.images.generate(prompt="provider fails")))
"#;

const SLOW: &str = r#"
report(case="timeout", **failure(lambda: client.with_options(timeout=1.0).images.generate(prompt="slow lantern")))
report(case="waited_out", **failure(lambda: client.images.generate(prompt="never ends")))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_provider_failures_and_timeouts_get_their_statuses_and_jobs_outlive_clients() {
    let Some(py) = python() else { return };
    let ms = ModelScopeFake::start().await;
    let (home, base, token) = home_with_api(&ms, "wait_timeout_s = 3\n").await;

    ms.set_script(MsScript::outcome_after(
        Duration::from_millis(50),
        MsOutcome::Failed {
            code: 500,
            message: "the GPU fell over".into(),
        },
    ));
    let results = run_python(&py, &format!("{PRELUDE}{PROVIDER_FAILS}"), &base, &token).await;
    let provider = case(&results, "provider");
    assert_eq!(provider["raised"], "InternalServerError", "{provider}");
    assert_eq!(provider["status"], 502, "{provider}");
    assert!(provider["code"].is_string(), "{provider}");

    // A client that gives up leaves its job running to success; a wait past
    // `wait_timeout_s` is a 504 naming the job, which keeps running too.
    ms.set_script(MsScript::succeed_after(Duration::from_millis(1500)));
    let mut c = home.subscribed().await;
    let results = run_python(&py, &format!("{PRELUDE}{SLOW}"), &base, &token).await;
    assert_eq!(case(&results, "timeout")["raised"], "APITimeoutError");
    let waited = case(&results, "waited_out");
    let jobs = home.json_async(&["jobs", "--json"]).await;
    for prompt in ["slow lantern", "never ends"] {
        let job = jobs
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["params"]["prompt"] == prompt)
            .unwrap_or_else(|| panic!("no job for {prompt}"));
        let id = job["id"].as_str().unwrap();
        c.wait_final(id).await;
        let done = home.json_async(&["show", id, "--json"]).await;
        assert_eq!(done["state"], "succeeded", "{done}");
    }
    // With a 1.5 s job and a 3 s wait the second call may finish in time; when it does not,
    // it is a 504.
    if waited["raised"] != Value::Null {
        assert_eq!(waited["status"], 504, "{waited}");
    }

    // A provider out of quota slows genq down: the first call waits it out (504, its job
    // stays queued), the next one is told at once how long to wait.
    ms.set_daily_limits(0, 0);
    ms.set_quota_retry_after(Some(30));
    let results = run_python(&py, &format!("{PRELUDE}{FAILURES}"), &base, &token).await;
    let first = case(&results, "first");
    assert_eq!(first["status"], 504, "{first}");
    let quota = case(&results, "quota");
    assert_eq!(quota["raised"], "RateLimitError", "{quota}");
    let wait: u64 = quota["retry_after"]
        .as_str()
        .unwrap_or("")
        .parse()
        .unwrap_or(0);
    assert!((1..=30).contains(&wait), "{quota}");
}

const VALIDATE: &str = r#"
import json, os, urllib.request
from openapi_spec_validator import validate
doc = json.load(urllib.request.urlopen(os.environ["GENQ_BASE"] + "/openapi.json"))
validate(doc)
print(json.dumps({"openapi": doc["openapi"], "paths": len(doc["paths"])}))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_validates_and_names_every_route_the_server_answers() {
    let Some(py) = python() else { return };
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(50)));
    let (home, base, token) = home_with_api(&ms, "").await;
    let checked = run_python(&py, VALIDATE, &base, &token).await;
    assert!(
        checked[0]["openapi"].as_str().unwrap().starts_with("3.1"),
        "{checked:?}"
    );

    let doc: Value = reqwest::get(format!("{base}/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().expect("paths");
    // What the API promises is documented.
    for route in [
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/v1/images/generations",
        "/v1/models",
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/jobs/{id}/cancel",
        "/v1/jobs/{id}/retry",
        "/v1/jobs/{id}/outputs/{n}",
        "/v1/events",
        "/v1/catalog/models",
        "/v1/catalog/capabilities",
        "/v1/catalog/categories",
        "/v1/catalog/loras",
    ] {
        assert!(paths.contains_key(route), "{route} is not in the document");
    }
    // Every documented route is served: none falls through to the unknown-route reply.
    let id = home.submit("modelscope", "documented").await;
    home.finished(&id).await;
    let client = reqwest::Client::new();
    for (path, ops) in paths {
        let concrete = path.replace("{id}", &id).replace("{n}", "0");
        for method in ops.as_object().unwrap().keys() {
            let url = format!("{base}{concrete}");
            let req = match method.as_str() {
                "get" => client.get(&url),
                "post" => client.post(&url).body("{}"),
                other => panic!("unexpected method {other} for {path}"),
            };
            let resp = req.bearer_auth(&token).send().await.unwrap();
            let status = resp.status();
            if path == "/v1/events" {
                assert_eq!(status, 200, "{method} {path}");
                continue;
            }
            let body = resp.text().await.unwrap_or_default();
            assert!(
                !body.contains("Invalid URL"),
                "{method} {path} is documented but not served: {status} {body}"
            );
        }
    }
    // And a route it does not document is not served.
    let unknown = client
        .get(format!("{base}/v1/nothing-here"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid URL"),
        "{body}"
    );
}
