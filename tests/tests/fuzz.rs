//! Fuzzing the method dispatcher through a real daemon's socket: requests naming every real
//! method (and made-up ones) with params of random shapes and hostile values, plus lines of
//! random bytes. Every request gets exactly one well-formed JSON-RPC reply with its id, every
//! bad line an error, and the daemon keeps answering. The hostile inputs of issue 11 are
//! fixed regression cases beside it.
//!
//! `GENQ_FUZZ_CASES` sets the number of requests (default 16,000) and garbage lines (a fifth of
//! it). Run with `--nocapture` to see the figures.

use std::time::Instant;

use genq_e2e::harness::{Home, PATIENCE, RawClient, catalog_section};
use genq_protocol::Method;
use genq_protocol::methods as m;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Number, Value, json};

/// Every method after `hello` except `daemon.shutdown`, which would end the run. (A failed
/// `hello` closes the connection by design; its own tests are in daemon.rs.)
const METHODS: &[&str] = &[
    <m::Submit as Method>::NAME,
    <m::JobsList as Method>::NAME,
    <m::JobsGet as Method>::NAME,
    <m::JobsCancel as Method>::NAME,
    <m::JobsRetry as Method>::NAME,
    <m::JobsExport as Method>::NAME,
    <m::JobsEvents as Method>::NAME,
    <m::JobsUpload as Method>::NAME,
    <m::Subscribe as Method>::NAME,
    <m::ProvidersList as Method>::NAME,
    <m::DaemonStatus as Method>::NAME,
    <m::ModelsList as Method>::NAME,
    <m::ModelsGet as Method>::NAME,
    <m::ModelsAdd as Method>::NAME,
    <m::ModelsEdit as Method>::NAME,
    <m::ModelsRemove as Method>::NAME,
    <m::ModelsRestore as Method>::NAME,
    <m::ModelsSetDefault as Method>::NAME,
    <m::SuppliersList as Method>::NAME,
    <m::CategoriesList as Method>::NAME,
    <m::CapabilitiesList as Method>::NAME,
    <m::LorasList as Method>::NAME,
    <m::LorasRefresh as Method>::NAME,
    <m::LorasGet as Method>::NAME,
];

/// Field names the methods read, so random params often reach past the first check.
const FIELDS: &[&str] = &[
    "id",
    "spec",
    "provider",
    "model",
    "prompt",
    "negative_prompt",
    "size",
    "seed",
    "steps",
    "guidance",
    "loras",
    "repo",
    "weight",
    "kind",
    "since_seq",
    "limit",
    "offset",
    "cursor",
    "text",
    "state",
    "sort",
    "target",
    "idempotency_key",
    "protocol",
    "client",
    "source",
    "name",
    "capability",
    "category",
    "query",
    "page",
    "extra",
];

/// A home whose every provider and catalog points at a closed loopback port: whatever the
/// fuzzer submits or browses, nothing leaves the machine.
fn sealed_home() -> Home {
    let mut home = Home::new();
    // Keys, so that submits are accepted (and then fail against the dead address).
    for var in ["MODELSCOPE_API_TOKEN", "DASHSCOPE_API_KEY", "TRIPO_API_KEY"] {
        home.env(var, "sealed-test-key");
    }
    let dead = "http://127.0.0.1:9";
    let mut toml = String::new();
    for p in ["modelscope", "dashscope", "tripo"] {
        toml.push_str(&format!(
            "[providers.{p}]\nbase_url = \"{dead}\"\nrequests_per_second = 1000\n"
        ));
    }
    for c in ["modelscope", "civitai", "huggingface"] {
        toml.push_str(&catalog_section(c, dead));
    }
    home.write_config(&toml);
    home
}

fn cases() -> usize {
    std::env::var("GENQ_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(16_000)
}

/// Numbers at and around every edge the daemon's integer types have.
fn edge_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(1)),
        Just(json!(i64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(u64::MAX)),
        Just(json!(1u64 << 63)),
        Just(json!(u32::MAX)),
        Just(json!(u32::MAX as u64 + 1)),
        Just(json!(1.5)),
        Just(json!(-0.0)),
        Just(json!(1e308)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|x| Number::from_f64(x).map_or(Value::Null, Value::Number)),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        edge_number(),
        prop::sample::select(vec![
            "",
            "modelscope",
            "dashscope",
            "tripo",
            "image",
            "model3d",
            "queued",
            "running",
            "failed",
            "newest",
            "1024x1024",
            "a/b",
            "0",
            "\u{0}",
            "\u{202e}rtl",
            "💥",
            "../../etc/passwd",
        ])
        .prop_map(|s| json!(s)),
        prop::collection::vec(any::<char>(), 0..24)
            .prop_map(|cs| json!(cs.into_iter().collect::<String>())),
        (0usize..20_000).prop_map(|n| json!("x".repeat(n))),
    ]
}

/// Random JSON, objects keyed mostly by real field names.
fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        4 => prop::sample::select(FIELDS).prop_map(str::to_string),
                        1 => "[a-z_]{0,8}".prop_map(|s: String| s),
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(METHODS).prop_map(str::to_string),
        1 => "[a-z._]{0,20}".prop_map(|s: String| s),
    ]
}

/// `params` as sent: mostly an object, sometimes missing or another JSON type.
fn params() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        6 => prop::collection::vec((prop::sample::select(FIELDS), value()), 0..5).prop_map(|kv| {
            Some(Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            ))
        }),
        1 => value().prop_map(Some),
    ]
}

/// A request line: `(method, params)`.
fn request() -> impl Strategy<Value = (String, Option<Value>)> {
    (method(), params())
}

/// A line of random bytes with no newline and at least one non-blank byte.
fn garbage_line() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        any::<u8>().prop_filter("no newline", |b| *b != b'\n'),
        1..400,
    )
    .prop_map(|mut bytes| {
        bytes.push(b'#');
        bytes
    })
}

/// Whether `msg` is a well-formed JSON-RPC 2.0 reply: `jsonrpc`, exactly one of `result`
/// and `error`, and an error with an integer code and a message.
fn well_formed(msg: &Value) -> Result<(), String> {
    if msg["jsonrpc"] != "2.0" {
        return Err(format!("no jsonrpc 2.0: {msg}"));
    }
    match (msg.get("result"), msg.get("error")) {
        (Some(_), None) => Ok(()),
        (None, Some(e)) if e["code"].is_i64() && e["message"].is_string() => Ok(()),
        _ => Err(format!("not one result or one error: {msg}")),
    }
}

/// Reads the next reply (skipping notifications), bounded by [`PATIENCE`].
async fn reply(c: &mut RawClient) -> Value {
    loop {
        let msg = c
            .read_line()
            .await
            .expect("the daemon closed the connection");
        if msg.get("method").is_none() {
            return msg;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_requests_always_get_one_well_formed_reply() {
    let home = sealed_home();
    home.start_daemon();
    let mut c = home.client().await;
    let total = cases();
    let seed: [u8; 32] = {
        let s = std::env::var("GENQ_FUZZ_SEED")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| u64::from(std::process::id()));
        println!("fuzz seed: {s} (GENQ_FUZZ_SEED replays it)");
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&s.to_le_bytes());
        bytes
    };
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
    );
    let started = Instant::now();
    let (mut sent, mut errors, mut failures) = (0usize, 0usize, Vec::new());
    // Pipelined in batches: the replies must come back one per request, ids matching.
    let batch = 50;
    let mut next_id = 1_000_000u64;
    while sent < total {
        let mut lines = Vec::new();
        let mut wanted = Vec::new();
        while wanted.len() < batch.min(total - sent) {
            let (method, params) = request()
                .new_tree(&mut runner)
                .expect("generate a request")
                .current();
            let mut req = json!({"jsonrpc": "2.0", "id": next_id, "method": method});
            if let Some(p) = params {
                req["params"] = p;
            }
            let line = req.to_string();
            if line.len() >= genq_protocol::MAX_FRAME_BYTES {
                // Oversized frames close the connection; they have their own case below.
                continue;
            }
            lines.extend_from_slice(line.as_bytes());
            lines.push(b'\n');
            wanted.push((next_id, line));
            next_id += 1;
        }
        c.send_raw(&lines).await;
        for (id, line) in wanted {
            let msg = reply(&mut c).await;
            sent += 1;
            if let Err(e) = well_formed(&msg) {
                failures.push(format!("{e}\n  for {}", clip(&line)));
            } else if msg["id"] != json!(id) {
                failures.push(format!("reply {msg} is not for id {id}: {}", clip(&line)));
            } else if msg.get("error").is_some() {
                errors += 1;
                if msg["error"]["data"]["kind"] == "internal" {
                    failures.push(format!("internal error {msg}\n  for {}", clip(&line)));
                }
            }
        }
    }
    let garbage = total / 5;
    for _ in 0..garbage {
        let mut line = garbage_line()
            .new_tree(&mut runner)
            .expect("generate a line")
            .current();
        line.push(b'\n');
        c.send_raw(&line).await;
        let msg = reply(&mut c).await;
        if well_formed(&msg).is_err() || msg.get("error").is_none() {
            failures.push(format!(
                "garbage line got {msg}: {}",
                String::from_utf8_lossy(&line)
            ));
        }
    }
    // Still answering, on this connection and on a new one.
    c.ok("daemon.status", json!({})).await;
    home.client().await.ok("daemon.status", json!({})).await;
    println!(
        "fuzz figures: requests {sent}, error replies {errors}, garbage lines {garbage}, \
         failures {}, elapsed {:?}",
        failures.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {} fuzzed requests were answered badly; first ones:\n{}",
        failures.len(),
        sent + garbage,
        failures
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn clip(line: &str) -> String {
    if line.len() <= 600 {
        return line.to_string();
    }
    let mut end = 600;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &line[..end], line.len())
}

/// The `data.kind` of an error reply, failing when the call succeeded.
fn kind(resp: &Value) -> &str {
    resp["error"]["data"]["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error reply, got {resp}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_900_kb_search_text_is_invalid_params() {
    let home = sealed_home();
    home.start_daemon();
    let mut c = home.client().await;
    // With a job to match against: an empty table never evaluates the pattern.
    c.ok(
        "submit",
        json!({"spec": {"provider": "modelscope", "prompt": "a job to search"}}),
    )
    .await;
    let r = c
        .call("jobs.list", json!({"text": "q".repeat(900 * 1024)}))
        .await;
    assert_eq!(kind(&r), "invalid_params", "{}", clip(&r.to_string()));
    assert_eq!(r["error"]["data"]["field"], "text", "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_seq_beyond_i64_is_a_range_error() {
    let home = sealed_home();
    home.start_daemon();
    let mut c = home.client().await;
    for since in [1u64 << 63, u64::MAX] {
        let r = c.call("subscribe", json!({"since_seq": since})).await;
        assert_eq!(kind(&r), "invalid_params", "since_seq {since}: {r}");
        assert_eq!(r["error"]["data"]["field"], "since_seq", "{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_beyond_i64_is_a_range_error() {
    let home = sealed_home();
    home.start_daemon();
    let mut c = home.client().await;
    c.ok(
        "submit",
        json!({"spec": {"provider": "modelscope", "prompt": "a job to skip"}}),
    )
    .await;
    for offset in [1u64 << 63, u64::MAX] {
        let r = c.call("jobs.list", json!({"offset": offset})).await;
        assert_eq!(kind(&r), "invalid_params", "offset {offset}: {r}");
        assert_eq!(r["error"]["data"]["field"], "offset", "{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_frames_get_errors_and_the_connection_goes_on() {
    let home = sealed_home();
    home.start_daemon();
    let mut c = home.client().await;

    // A raw NUL byte is not JSON; an escaped one inside a string is just text.
    c.send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":1,\0\"method\":\"daemon.status\"}\n")
        .await;
    assert_eq!(reply(&mut c).await["error"]["code"], -32700);
    let r = c.call("jobs.list", json!({"text": "nul\u{0}inside"})).await;
    well_formed(&r).unwrap();

    // 100,000 open brackets.
    let mut deep = "[".repeat(100_000).into_bytes();
    deep.push(b'\n');
    c.send_raw(&deep).await;
    assert_eq!(reply(&mut c).await["error"]["code"], -32700);

    // A number no float holds is not JSON to the parser; either error is well-formed.
    c.send_raw(
        b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"jobs.list\",\"params\":{\"limit\":1e400}}\n",
    )
    .await;
    let r = reply(&mut c).await;
    assert!(["parse_error", "invalid_params"].contains(&kind(&r)), "{r}");
    // Numbers no integer type of the field holds.
    for limit in ["18446744073709551616", "-1", "1.5", "4294967296"] {
        let line = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"jobs.list\",\"params\":{{\"limit\":{limit}}}}}\n"
        );
        c.send_raw(line.as_bytes()).await;
        let r = reply(&mut c).await;
        assert_eq!(kind(&r), "invalid_params", "limit {limit}: {r}");
    }
    let huge_id = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"daemon.status\"}}\n",
        "9".repeat(5000)
    );
    c.send_raw(huge_id.as_bytes()).await;
    well_formed(&reply(&mut c).await).unwrap();

    c.ok("daemon.status", json!({})).await;

    // A frame over the size limit: an error, then the connection closes; others go on.
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"hello\",\"params\":{{\"x\":\"{}\"}}}}\n",
        "a".repeat(genq_protocol::MAX_FRAME_BYTES + 1)
    );
    c.send_raw_lossy(big.as_bytes()).await;
    let r = tokio::time::timeout(PATIENCE, c.read_line())
        .await
        .expect("an answer in time")
        .expect("an error reply before closing");
    assert_eq!(kind(&r), "frame_too_large");
    assert!(c.read_line().await.is_none(), "connection stayed open");
    home.client().await.ok("daemon.status", json!({})).await;
}
