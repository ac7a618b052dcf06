//! The daemon's HTTP API driven with curl, as a script would: tokens, health, the REST job
//! API (idempotent submit, list with paging, get, cancel, retry, downloads with ranges) and
//! the event stream resumed with `Last-Event-ID`.

use genq_e2e::fakes::{ModelScopeFake, MsScript};
use genq_e2e::harness::{Home, create_token, free_port, http_section, wait_http};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// What curl got: status, headers (lower-case names) and body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `curl -i` with the given arguments; the URL is the last one.
async fn curl(args: &[&str]) -> Reply {
    let out = tokio::process::Command::new("curl")
        .args(["-s", "-i", "--max-time", "60"])
        .args(args)
        .output()
        .await
        .expect("run curl");
    let raw = out.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no reply from curl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

struct Api {
    home: Home,
    ms: ModelScopeFake,
    port: u16,
    token: String,
}

impl Api {
    async fn start(script: MsScript) -> Api {
        let ms = ModelScopeFake::start().await;
        ms.set_script(script);
        let port = free_port();
        let home = Home::with_modelscope(&ms, &format!("{FAST_POLLS}{}", http_section(port, "")));
        home.start_daemon();
        wait_http(&home, port).await;
        let token = create_token(&home, "ci").await;
        Api {
            home,
            ms,
            port,
            token,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn auth(&self) -> String {
        format!("Authorization: Bearer {}", self.token)
    }

    async fn get(&self, path: &str) -> Reply {
        curl(&["-H", &self.auth(), &self.url(path)]).await
    }

    async fn post(&self, path: &str, body: &Value, extra: &[&str]) -> Reply {
        let body = body.to_string();
        let auth = self.auth();
        let url = self.url(path);
        let mut args = vec![
            "-X",
            "POST",
            "-H",
            &auth,
            "-H",
            "Content-Type: application/json",
        ];
        args.extend_from_slice(extra);
        args.extend(["--data-binary", &body, &url]);
        curl(&args).await
    }
}

fn assert_error(r: &Reply, status: u16, param: Option<&str>) -> Value {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let e = r.json()["error"].clone();
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    assert!(e["type"].is_string(), "{e}");
    if let Some(p) = param {
        assert_eq!(e["param"], p, "{e}");
    }
    e
}

/// The fake's tasks take milliseconds: poll them at once.
const FAST_POLLS: &str = "typical_s = 0.1\nrequests_per_second = 100\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_guard_every_route_but_health_and_a_reload_moves_the_address() {
    let api = Api::start(MsScript::succeed_after(Duration::from_millis(50))).await;
    // Health without a token.
    let health = curl(&[&api.url("/healthz")]).await;
    assert_eq!(health.status, 200);
    let ready = curl(&[&api.url("/readyz")]).await;
    assert_eq!(ready.status, 200);
    let ready = ready.json();
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["providers"]["modelscope"]["has_key"], true, "{ready}");
    // No token, a wrong one: 401 with a JSON body.
    let none = curl(&[&api.url("/v1/jobs")]).await;
    let e = assert_error(&none, 401, None);
    assert_eq!(e["code"], "invalid_api_key");
    let wrong = curl(&[
        "-H",
        "Authorization: Bearer genq_nope",
        &api.url("/v1/models"),
    ])
    .await;
    assert_error(&wrong, 401, None);
    // A good one.
    let models = api.get("/v1/models").await;
    assert_eq!(models.status, 200);
    let ids: Vec<String> = models.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        ids.contains(&"modelscope/Qwen/Qwen-Image".to_string()),
        "{ids:?}"
    );
    // The list shows names and dates, never the token; the database keeps only a hash.
    let list = api.home.ok_async(&["token", "list"]).await;
    assert!(list.contains("ci"), "{list}");
    assert!(!list.contains(&api.token), "{list}");
    let listed = api.home.json_async(&["token", "list", "--json"]).await;
    assert!(listed[0]["last_used_at"].is_string(), "{listed}");
    let db = std::fs::read(&api.home.paths.db).unwrap();
    let wal = std::fs::read(api.home.paths.db.with_extension("db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!String::from_utf8_lossy(&bytes).contains(&api.token));
    }
    // Status shows the address.
    let status = api.home.ok_async(&["daemon", "status"]).await;
    assert!(
        status.contains(&format!("http://127.0.0.1:{}", api.port)),
        "{status}"
    );
    // Revoked: refused at once.
    api.home.ok_async(&["token", "rm", "ci"]).await;
    assert_error(&api.get("/v1/models").await, 401, None);
    // A reload moves the API to the new address.
    let moved = free_port();
    let config = std::fs::read_to_string(&api.home.paths.config).unwrap();
    let config = config.replace(&api.port.to_string(), &moved.to_string());
    api.home.write_config(&config);
    let status = http_in_status(&api.home, Some(format!("127.0.0.1:{moved}"))).await;
    assert_eq!(status["http"], format!("127.0.0.1:{moved}"), "{status}");
    wait_http(&api.home, moved).await;
    let old = tokio::net::TcpStream::connect(("127.0.0.1", api.port)).await;
    assert!(old.is_err(), "the old address still answers");
    // Off again without [http] listen.
    api.home
        .write_config(&config.replace(&format!("listen = \"127.0.0.1:{moved}\""), ""));
    let status = http_in_status(&api.home, None).await;
    assert!(status.get("http").is_none(), "{status}");
}

/// `genq daemon status --json` once its `http` is `want`: the daemon noticed the config file
/// changed (its watcher lets writes settle first).
async fn http_in_status(home: &Home, want: Option<String>) -> Value {
    let start = std::time::Instant::now();
    loop {
        let status = home.json_async(&["daemon", "status", "--json"]).await;
        if status
            .get("http")
            .and_then(|h| h.as_str())
            .map(str::to_string)
            == want
        {
            return status;
        }
        assert!(
            start.elapsed() < genq_e2e::harness::PATIENCE,
            "the daemon never applied http = {want:?}: {status}\n{}",
            home.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_api_submits_once_per_key_lists_pages_cancels_retries_and_serves_ranges() {
    let api = Api::start(MsScript::succeed_after(Duration::from_millis(50))).await;
    let spec = json!({"provider": "modelscope", "prompt": "a lighthouse at dusk"});
    let first = api
        .post("/v1/jobs", &spec, &["-H", "Idempotency-Key: lighthouse-1"])
        .await;
    assert_eq!(
        first.status,
        202,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let again = api
        .post("/v1/jobs", &spec, &["-H", "Idempotency-Key: lighthouse-1"])
        .await;
    assert_eq!(again.status, 202);
    let id = first.json()["id"].as_str().unwrap().to_string();
    assert_eq!(again.json()["id"], id.as_str());
    let page = api.get("/v1/jobs").await.json();
    assert_eq!(page["total"], 1, "{page}");
    // Bad input names the field.
    let bad = api
        .post(
            "/v1/jobs",
            &json!({"provider": "modelscope", "prompt": "x", "steps": "many"}),
            &[],
        )
        .await;
    assert_error(&bad, 400, Some("steps"));
    let bad_size = api
        .post(
            "/v1/jobs",
            &json!({"provider": "modelscope", "prompt": "x", "size": "1x99999"}),
            &[],
        )
        .await;
    assert_error(&bad_size, 400, Some("size"));
    assert_error(
        &api.get("/v1/jobs?state=sleeping").await,
        400,
        Some("state"),
    );
    assert_error(&api.get("/v1/jobs/999").await, 404, None);

    // The finished job's output: whole, by range, and its ETag.
    let job = api.home.finished(&id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let got = api.get(&format!("/v1/jobs/{id}")).await.json();
    assert_eq!(got["outputs"], job["outputs"]);
    let on_disk = std::fs::read(job["outputs"][0]["path"].as_str().unwrap()).unwrap();
    let whole = api.get(&format!("/v1/jobs/{}/outputs/0", job["num"])).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("content-type"), Some("image/png"));
    assert_eq!(whole.body, on_disk);
    let sha: String = Sha256::digest(&on_disk)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(job["outputs"][0]["sha256"], sha.as_str());
    assert_eq!(whole.header("etag"), Some(format!("\"{sha}\"").as_str()));
    let auth = api.auth();
    let url = api.url(&format!("/v1/jobs/{id}/outputs/0"));
    let part = curl(&["-H", &auth, "-H", "Range: bytes=8-23", &url]).await;
    assert_eq!(part.status, 206);
    assert_eq!(part.body, on_disk[8..24]);
    let total = on_disk.len();
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 8-23/{total}").as_str())
    );
    let tail = curl(&["-H", &auth, "-H", "Range: bytes=-4", &url]).await;
    assert_eq!(tail.body, on_disk[total - 4..]);
    let etag = format!("If-None-Match: \"{sha}\"");
    assert_eq!(curl(&["-H", &auth, "-H", &etag, &url]).await.status, 304);
    let beyond = format!("Range: bytes={total}-");
    assert_error(&curl(&["-H", &auth, "-H", &beyond, &url]).await, 416, None);
    assert_error(
        &api.get(&format!("/v1/jobs/{id}/outputs/7")).await,
        404,
        None,
    );

    // Paging: three more jobs, two per page, every job once.
    for i in 0..3 {
        let spec = json!({"provider": "modelscope", "prompt": format!("boat {i}")});
        assert_eq!(api.post("/v1/jobs", &spec, &[]).await.status, 202);
    }
    let mut seen = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/jobs?limit=2&cursor={c}"),
            None => "/v1/jobs?limit=2".to_string(),
        };
        let page = api.get(&path).await.json();
        assert_eq!(page["total"], 4, "{page}");
        for j in page["jobs"].as_array().unwrap() {
            assert!(seen.insert(j["id"].as_str().unwrap().to_string()), "{page}");
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4);
    let filtered = api.get("/v1/jobs?text=lighthouse").await.json();
    assert_eq!(filtered["total"], 1, "{filtered}");

    // Cancel a slow job, then retry it.
    api.ms
        .set_script(MsScript::succeed_after(Duration::from_secs(600)));
    let slow = api
        .post(
            "/v1/jobs",
            &json!({"provider": "modelscope", "prompt": "slow"}),
            &[],
        )
        .await
        .json();
    let slow_id = slow["id"].as_str().unwrap();
    let canceled = api
        .post(&format!("/v1/jobs/{slow_id}/cancel"), &json!({}), &[])
        .await;
    assert_eq!(
        canceled.status,
        200,
        "{}",
        String::from_utf8_lossy(&canceled.body)
    );
    assert_eq!(canceled.json()["state"], "canceled");
    assert_error(
        &api.post(&format!("/v1/jobs/{slow_id}/cancel"), &json!({}), &[])
            .await,
        409,
        None,
    );
    api.ms
        .set_script(MsScript::succeed_after(Duration::from_millis(50)));
    let retried = api
        .post(&format!("/v1/jobs/{slow_id}/retry"), &json!({}), &[])
        .await;
    assert_eq!(retried.status, 202);
    let retried = retried.json();
    assert_eq!(retried["retry_of"], slow_id);
    let done = api.home.finished(retried["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded");
    let events = api.get(&format!("/v1/jobs/{slow_id}/events")).await.json();
    assert!(events.as_array().is_some_and(|e| e.len() >= 2), "{events}");
}

/// Reads `curl -N` server-sent events: the `id` of each event until `stop` says so.
async fn sse_ids(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    mut stop: impl FnMut(&Value) -> bool,
) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut id = None;
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(v) = line.strip_prefix("id:") {
            id = v.trim().parse().ok();
        } else if let Some(data) = line.strip_prefix("data:") {
            let event: Value = serde_json::from_str(data.trim()).expect("event JSON");
            let seq = id.take().expect("an id before the data");
            assert_eq!(event["seq"], seq);
            ids.push(seq);
            if stop(&event) {
                return ids;
            }
        }
    }
    panic!("the event stream ended");
}

fn curl_sse(api: &Api, last: Option<u64>) -> tokio::process::Child {
    let mut c = tokio::process::Command::new("curl");
    c.args(["-s", "-N", "-H", &api.auth()]);
    match last {
        Some(seq) => c.args([
            "-H",
            &format!("Last-Event-ID: {seq}"),
            &api.url("/v1/events"),
        ]),
        None => c.arg(api.url("/v1/events?since=0")),
    };
    c.stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run curl")
}

fn is_final_of(event: &Value, id: &str) -> bool {
    event["job_id"] == id
        && event["type"] == "state"
        && matches!(
            event["to"].as_str(),
            Some("succeeded" | "failed" | "canceled")
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_resumed_with_last_event_id_misses_nothing() {
    let api = Api::start(MsScript::succeed_after(Duration::from_millis(50))).await;
    let first = api.home.submit("modelscope", "first").await;
    let mut sse = curl_sse(&api, None);
    let mut lines = BufReader::new(sse.stdout.take().unwrap()).lines();
    let before = sse_ids(&mut lines, |e| is_final_of(e, &first)).await;
    // The client goes away; jobs go on.
    drop(lines);
    sse.kill().await.unwrap();
    let mut later = Vec::new();
    for i in 0..3 {
        later.push(api.home.submit("modelscope", &format!("later {i}")).await);
    }
    let last = *before.last().unwrap();
    let mut sse = curl_sse(&api, Some(last));
    let mut lines = BufReader::new(sse.stdout.take().unwrap()).lines();
    let mut pending: BTreeSet<String> = later.iter().cloned().collect();
    let after = sse_ids(&mut lines, |e| {
        pending.retain(|id| !is_final_of(e, id));
        pending.is_empty()
    })
    .await;
    // Every seq once, in order, none missing, across the two connections.
    let all: Vec<u64> = before.iter().chain(after.iter()).copied().collect();
    let expected: Vec<u64> = (1..=*all.last().unwrap()).collect();
    assert_eq!(all, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_bodies_are_refused_and_slow_clients_cannot_hold_the_connection_slots() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ms = ModelScopeFake::start().await;
    let port = free_port();
    let home = Home::with_modelscope(
        &ms,
        &format!(
            "{FAST_POLLS}{}",
            http_section(port, "max_connections = 2\n")
        ),
    );
    home.start_daemon();
    wait_http(&home, port).await;
    let token = create_token(&home, "limits").await;
    let url = format!("http://127.0.0.1:{port}/v1/jobs");
    // A body over the limit: 413 with the JSON error, nothing created.
    let big = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(big.path(), vec![b' '; 2 * 1024 * 1024]).unwrap();
    let file_arg = format!("@{}", big.path().display());
    let auth = format!("Authorization: Bearer {token}");
    let r = curl(&[
        "-X",
        "POST",
        "-H",
        &auth,
        "-H",
        "Expect:",
        "--data-binary",
        &file_arg,
        &url,
    ])
    .await;
    assert_error(&r, 413, None);
    // Two clients take both slots and send half a request line, then nothing.
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        s.write_all(b"GET /healthz HTT").await.unwrap();
        slow.push(s);
    }
    // A real client still gets its answer: the slow ones are cut at the header deadline.
    let health = curl(&[&format!("http://127.0.0.1:{port}/healthz")]).await;
    assert_eq!(health.status, 200);
    for mut s in slow {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(genq_e2e::harness::PATIENCE, s.read_to_end(&mut rest));
        assert!(read.await.is_ok(), "a slow client kept its connection");
    }
}
