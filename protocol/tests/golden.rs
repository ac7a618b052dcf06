//! Pins the wire format: each message type is serialized and compared with a checked-in
//! JSON file, and the file is parsed back into the same value. An accidental change to a
//! field name, an enum spelling or an optional field fails here.
//!
//! After an intended, additive change: `GENQ_BLESS=1 cargo test -p genq-protocol --test golden`
//! rewrites the files; review the diff.

use genq_protocol::methods::*;
use genq_protocol::rpc::{Notification, Request, Response, Version2};
use genq_protocol::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::PathBuf;

fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(name: &str, value: &T) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    let actual = serde_json::to_string_pretty(value).unwrap() + "\n";
    if std::env::var_os("GENQ_BLESS").is_some() {
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing {}; run with GENQ_BLESS=1 to create it",
            path.display()
        )
    });
    assert_eq!(actual, expected, "wire format of {name} changed");
    let parsed: T = serde_json::from_str(&expected).unwrap();
    assert_eq!(
        &parsed, value,
        "{name} does not parse back to the same value"
    );
}

fn t(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

fn spec() -> JobSpec {
    JobSpec {
        provider: "modelscope".into(),
        kind: None,
        model: Some("Qwen/Qwen-Image".into()),
        prompt: "a ceramic teapot".into(),
        negative_prompt: Some("blurry".into()),
        size: Some(Size {
            width: 1328,
            height: 1328,
        }),
        seed: Some(12345),
        steps: Some(30),
        guidance: Some(4.5),
        loras: vec![
            Lora {
                repo: "merjic/majicbeauty-qwen1".into(),
                weight: 0.7,
            },
            Lora {
                repo: "DiffSynth-Studio/Qwen-Image-Distill-LoRA".into(),
                weight: 0.3,
            },
        ],
        image: None,
        views: BTreeMap::new(),
        n: None,
        params: BTreeMap::from([("prompt_extend".to_string(), json!(false))]),
        store: Some(vec!["cos".into()]),
    }
}

fn job() -> Job {
    Job {
        id: JobId("0193a0c4-5b6e-7f00-8000-000000000001".into()),
        num: Some(42),
        kind: JobKind::Image,
        provider: "modelscope".into(),
        model: Some("Qwen/Qwen-Image".into()),
        state: JobState::Succeeded,
        progress: Some(100),
        params: spec(),
        remote_id: Some("5f2c0000-task".into()),
        created_at: t(1_763_790_240_000),
        updated_at: t(1_763_790_300_000),
        finished_at: Some(t(1_763_790_300_000)),
        retry_of: None,
        error: None,
        outputs: vec![Output {
            index: 0,
            path: Some("/home/u/.local/share/genq/outputs/2025/11/0193a0c4/0.png".into()),
            sha256: Some("ab".repeat(32)),
            size: Some(123_456),
            mime: Some("image/png".into()),
            width: Some(1328),
            height: Some(1328),
            source_url: Some("https://example.com/result.png".into()),
            uploads: vec![Upload {
                target: "cos".into(),
                url: Some(
                    "https://bucket-1250000000.cos.ap-guangzhou.myqcloud.com/202511/ab_0.png"
                        .into(),
                ),
                error: None,
            }],
            label: None,
            format: None,
        }],
        times: BTreeMap::from([
            (JobState::Queued, t(1_763_790_240_000)),
            (JobState::Submitting, t(1_763_790_240_010)),
            (JobState::Running, t(1_763_790_240_500)),
            (JobState::Fetching, t(1_763_790_290_000)),
            (JobState::Storing, t(1_763_790_295_000)),
            (JobState::Succeeded, t(1_763_790_300_000)),
        ]),
        idempotency_key: Some("build-42".into()),
        generation_ms: None,
        provider_requests: Vec::new(),
    }
}

#[test]
fn job_record() {
    check("job", &job());
}

/// A 3D job with the fields added for providers that report trace ids, output roles and
/// generation time. (`job.json` has none of them: records written before they existed parse.)
#[test]
fn model3d_job_record() {
    let mut j = job();
    j.kind = JobKind::Model3d;
    j.provider = "tripo".into();
    j.model = Some("v2.5-20250123".into());
    j.params = JobSpec {
        provider: "tripo".into(),
        prompt: "a ceramic teapot".into(),
        ..JobSpec::default()
    };
    j.idempotency_key = None;
    j.generation_ms = Some(48_000);
    j.provider_requests = vec![
        ProviderRequest {
            call: "submit".into(),
            request_id: "trace-submit".into(),
            at: t(1_763_790_240_500),
        },
        ProviderRequest {
            call: "poll".into(),
            request_id: "trace-poll".into(),
            at: t(1_763_790_290_000),
        },
    ];
    j.outputs = vec![Output {
        index: 0,
        path: Some("/o/0.glb".into()),
        sha256: Some("cd".repeat(32)),
        size: Some(2_345_678),
        mime: Some("model/gltf-binary".into()),
        width: None,
        height: None,
        source_url: Some("https://tripo-data.example/model.glb".into()),
        uploads: Vec::new(),
        label: Some("model".into()),
        format: Some("glb".into()),
    }];
    check("job_model3d", &j);
}

#[test]
fn failed_job_record() {
    let mut j = job();
    j.state = JobState::Failed;
    j.outputs.clear();
    j.progress = None;
    j.idempotency_key = None;
    j.retry_of = Some(JobId("0193a0c4-0000-7000-8000-000000000000".into()));
    j.error = Some(JobError {
        kind: JobErrorKind::ContentPolicy,
        message: "Output data may contain inappropriate content.".into(),
        provider_request_id: Some("req-1".into()),
    });
    check("job_failed", &j);
}

#[test]
fn job_spec_export() {
    check("job_spec", &spec());
}

#[test]
fn events() {
    let id = JobId("0193a0c4-5b6e-7f00-8000-000000000001".into());
    let ev = |seq, body| Event {
        seq,
        job_id: id.clone(),
        job_num: Some(42),
        at: t(1_763_790_240_000 + seq as i64),
        body,
    };
    let all = vec![
        ev(
            1,
            EventBody::Created {
                provider: "modelscope".into(),
                model: Some("Qwen/Qwen-Image".into()),
            },
        ),
        ev(
            2,
            EventBody::State {
                from: JobState::Queued,
                to: JobState::Submitting,
                error: None,
            },
        ),
        ev(
            3,
            EventBody::Remote {
                remote_id: "4213726".into(),
                request_id: None,
            },
        ),
        ev(4, EventBody::Progress { progress: 40 }),
        ev(
            5,
            EventBody::Output {
                index: 0,
                path: "/o/0.png".into(),
            },
        ),
        ev(
            6,
            EventBody::Upload {
                index: 0,
                target: "cos".into(),
                url: None,
                error: Some("bucket missing".into()),
            },
        ),
        ev(
            7,
            EventBody::Note {
                message: "submit failed (429); retrying in 5.0 s".into(),
            },
        ),
        ev(
            8,
            EventBody::State {
                from: JobState::Running,
                to: JobState::Failed,
                error: Some(JobError {
                    kind: JobErrorKind::Timeout,
                    message: "too slow".into(),
                    provider_request_id: None,
                }),
            },
        ),
        ev(
            9,
            EventBody::Remote {
                remote_id: "0b2e-tripo-task".into(),
                request_id: Some("trace-77c1".into()),
            },
        ),
    ];
    check("events", &all);
}

#[test]
fn requests_and_replies() {
    let submit = Request {
        jsonrpc: Version2,
        id: json!(1),
        method: Submit::NAME.into(),
        params: Some(
            serde_json::to_value(SubmitParams {
                spec: spec(),
                idempotency_key: Some("k".into()),
            })
            .unwrap(),
        ),
    };
    check("request_submit", &submit);
    let list = ListParams {
        state: vec![JobState::Running, JobState::Queued],
        provider: Some("dashscope".into()),
        text: Some("teapot".into()),
        cursor: Some("0193a0c4-5b6e-7f00-8000-000000000001".into()),
        limit: Some(50),
        sort: Sort::Oldest,
        offset: None,
        retried: None,
    };
    check("params_jobs_list", &list);
    check(
        "params_hello",
        &HelloParams {
            protocol: 1,
            client: "genq-cli".into(),
        },
    );
    check(
        "result_hello",
        &HelloResult {
            protocol: 1,
            version: "0.1.0".into(),
            pid: 4242,
        },
    );
    check(
        "result_status",
        &StatusResult {
            pid: 4242,
            version: "0.1.0".into(),
            protocol: 1,
            socket: "/tmp/genq-1000/genq.sock".into(),
            db: "/home/u/.local/share/genq/genq.db".into(),
            uptime_s: 61,
            jobs: BTreeMap::from([("queued".into(), 1), ("running".into(), 2)]),
            config_error: None,
            config: "/home/u/.config/genq/config.toml".into(),
            home: None,
            http: None,
        },
    );
    check(
        "params_subscribe",
        &SubscribeParams {
            since_seq: Some(17),
        },
    );
    check(
        "notification_resync",
        &Notification::new(
            NOTIFY_RESYNC,
            ResyncParams {
                last_seq: 17,
                reason: "fell behind".into(),
            },
        ),
    );
    check(
        "response_error",
        &Response::err(
            json!(3),
            RpcError::invalid_params(
                "spec.loras[1].weight",
                "weights sum to 1.2",
                Some("weights summing to 1.0".into()),
            ),
        ),
    );
}

#[test]
fn error_codes_are_stable() {
    let codes: Vec<(ErrorKind, i64)> = [
        ErrorKind::ParseError,
        ErrorKind::InvalidRequest,
        ErrorKind::FrameTooLarge,
        ErrorKind::MethodNotFound,
        ErrorKind::InvalidParams,
        ErrorKind::HelloRequired,
        ErrorKind::VersionMismatch,
        ErrorKind::NotFound,
        ErrorKind::Ambiguous,
        ErrorKind::Conflict,
        ErrorKind::ShuttingDown,
        ErrorKind::Network,
        ErrorKind::Timeout,
        ErrorKind::Auth,
        ErrorKind::Busy,
        ErrorKind::Internal,
    ]
    .into_iter()
    .map(|k| (k, k.code()))
    .collect();
    check("error_codes", &codes);
}

#[test]
fn housekeeping() {
    check(
        "params_jobs_remove",
        &RemoveParams {
            ids: vec!["0193a0c4".into(), "0193a0c5-5b6e".into()],
            outputs: true,
        },
    );
    check(
        "params_jobs_clean",
        &CleanParams {
            state: vec![JobState::Failed, JobState::Canceled],
            older_than_s: Some(604_800),
            provider: Some("modelscope".into()),
            outputs: false,
            dry_run: true,
        },
    );
    check(
        "result_jobs_remove",
        &RemoveResult {
            count: 2,
            jobs: vec![RemovedJob {
                id: JobId("0193a0c4-5b6e-7f00-8000-000000000001".into()),
                num: Some(12),
                state: JobState::Succeeded,
                provider: "modelscope".into(),
                model: Some("Qwen/Qwen-Image".into()),
                created_at: t(1_763_790_240_000),
                prompt: "a teapot".into(),
                output_dir: Some("/o/2025/11/0193a0c4-5b6e-7f00-8000-000000000001".into()),
            }],
            freed_bytes: 1_572_864,
            dry_run: false,
            errors: vec!["/o/2025/11/x: permission denied".into()],
        },
    );
    check(
        "result_outputs_usage",
        &DiskUsage {
            path: "/home/u/.local/share/genq/outputs".into(),
            bytes: 1_572_864,
            files: 2,
            job_dirs: 1,
        },
    );
    check(
        "event_removed",
        &Event {
            seq: 42,
            job_id: JobId("0193a0c4-5b6e-7f00-8000-000000000001".into()),
            job_num: Some(12),
            at: t(1_763_790_240_000),
            body: EventBody::Removed { outputs: true },
        },
    );
}

#[test]
fn outputs_from_afar() {
    use genq_protocol::outputs::*;
    check(
        "params_outputs_read",
        &ReadParams {
            id: "42".into(),
            index: Some(0),
            file: None,
            offset: 1_048_576,
            length: Some(1_048_576),
        },
    );
    check(
        "params_outputs_read_params_json",
        &ReadParams {
            id: "0193a0c4".into(),
            index: None,
            file: Some(JobFile::Params),
            offset: 0,
            length: None,
        },
    );
    check(
        "result_outputs_read",
        &ReadResult {
            name: "0.png".into(),
            data: base64_encode(b"\x89PNG\r\n"),
            offset: 0,
            eof: false,
            size: 4_194_304,
            sha256: Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into()),
        },
    );
    check(
        "params_outputs_preview",
        &PreviewParams {
            id: "42".into(),
            index: None,
            max_width: 480,
            max_height: 480,
        },
    );
    check(
        "result_outputs_preview",
        &PreviewResult {
            index: 0,
            mime: "image/png".into(),
            width: 480,
            height: 270,
            data: base64_encode(b"\x89PNG\r\n"),
        },
    );
}

#[test]
fn batches() {
    use genq_protocol::batch::*;
    let mut defaults = serde_json::Map::new();
    defaults.insert("provider".into(), json!("modelscope"));
    check(
        "params_batch_submit",
        &BatchSubmitParams {
            path: Some("/home/u/book/chapters.csv".into()),
            text: None,
            name: Some("chapters.csv".into()),
            format: Some(BatchFormat::Csv),
            defaults,
            style: Some("lineart".into()),
            vary: vec!["seed=1..4".into()],
            base_dir: Some("/home/u/book".into()),
            dry_run: true,
            skip_invalid: false,
            force: false,
        },
    );
    let counts = BatchCounts {
        total: 120,
        pending: 10,
        in_flight: 4,
        succeeded: 100,
        failed: 5,
        canceled: 1,
    };
    let info = BatchInfo {
        id: 3,
        name: "chapters.csv".into(),
        source: "cli".into(),
        created_at: t(1_763_790_240_000),
        finished_at: None,
        canceled: false,
        counts,
        manifest: Some("/home/u/book/chapters.manifest.jsonl".into()),
    };
    check(
        "result_batch_submit",
        &BatchPlan {
            batch: None,
            jobs: vec![PlannedJob {
                index: 1,
                row: 1,
                spec: spec(),
                output: Some("/home/u/book/ill/001_a-teapot.png".into()),
                reuses: Some(JobId("0193a0c4-5b6e-7f00-8000-000000000001".into())),
            }],
            reused: 1,
            invalid: vec![RowProblem {
                row: 2,
                field: "seed".into(),
                message: "\"many\" is not a whole number".into(),
            }],
            estimate: vec![ProviderEstimate {
                provider: "modelscope".into(),
                calls: 119,
                outputs: 119,
                quota_remaining: Some(180),
                quota_detail: Some("model: 180/200".into()),
            }],
        },
    );
    check("result_batch_list", &vec![info.clone()]);
    check("params_batch_ref", &BatchRef { id: 3 });
    check(
        "result_batch_get",
        &BatchDetail {
            batch: info,
            rows: vec![BatchRow {
                index: 1,
                row: 1,
                prompt: "a teapot".into(),
                job_id: Some(JobId("0193a0c4-5b6e-7f00-8000-000000000001".into())),
                job_num: Some(12),
                state: Some(JobState::Failed),
                error: Some(JobError {
                    kind: JobErrorKind::ContentPolicy,
                    message: "refused".into(),
                    provider_request_id: None,
                }),
                output: Some("/home/u/book/ill/001_a-teapot.png".into()),
                copied: vec![],
                outputs: vec![],
                reused: false,
            }],
        },
    );
}

#[test]
fn http_tokens() {
    check(
        "params_tokens_create",
        &TokenName {
            name: "open-webui".into(),
        },
    );
    check(
        "result_tokens_create",
        &TokenCreated {
            name: "open-webui".into(),
            token: "genq_3q2-7wQyV1ZxM8cKpD0fLrT5sNaBhYjE4uWgXoIiCvk".into(),
            created_at: t(1_767_225_600_000),
        },
    );
    check(
        "result_tokens_list",
        &vec![
            TokenInfo {
                name: "open-webui".into(),
                created_at: t(1_767_225_600_000),
                last_used_at: Some(t(1_767_229_200_000)),
            },
            TokenInfo {
                name: "scripts".into(),
                created_at: t(1_767_225_660_000),
                last_used_at: None,
            },
        ],
    );
}
