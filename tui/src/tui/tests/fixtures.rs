//! Fixed jobs and a fixed clock, so snapshots are stable.

use crate::tui::action::Action;
use crate::tui::app::App;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use genq_protocol::methods::JobPage;
use genq_protocol::{
    Event, EventBody, Job, JobError, JobErrorKind, JobId, JobKind, JobSpec, JobState, Lora, Output,
    ProviderRequest, Size, Timestamp, Upload,
};
use std::collections::BTreeMap;

/// 2025-11-22T05:44:00Z.
pub const T0: i64 = 1_763_790_240_000;

/// A plain key press.
pub fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

pub fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

pub fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

/// Types `text` one key at a time.
pub fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        app.key(key(c));
    }
}

pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix_millis(T0 + secs * 1000)
}

pub fn id(n: u32) -> JobId {
    JobId(format!("019a{n:04x}-7c1e-7000-8000-00000000{n:04x}"))
}

const PROMPTS: &[&str] = &[
    "a lighthouse on a cliff at dusk, volumetric fog, 35mm film",
    "ceramic teapot with a crackle glaze",
    "portrait of an astronaut cat, studio light",
    "isometric city block at night, neon signs, rain",
    "watercolour fox in a snowy forest",
];

/// Job number `n` (higher is newer) in `state`.
pub fn job(n: u32, state: JobState) -> Job {
    let provider = ["modelscope", "dashscope", "tripo"][n as usize % 3];
    let model = match provider {
        "modelscope" => "Qwen/Qwen-Image",
        "dashscope" => "wan2.2-t2i-flash",
        _ => "v2.5-20250123",
    };
    let created = at(i64::from(n) * 60);
    let finished = state.is_final().then(|| at(i64::from(n) * 60 + 47));
    Job {
        id: id(n),
        num: Some(u64::from(n)),
        kind: if provider == "tripo" {
            JobKind::Model3d
        } else {
            JobKind::Image
        },
        provider: provider.to_string(),
        model: Some(model.to_string()),
        state,
        progress: (state == JobState::Running).then_some(40 + (n % 5) as u8 * 10),
        params: JobSpec {
            provider: provider.to_string(),
            model: Some(model.to_string()),
            prompt: PROMPTS[n as usize % PROMPTS.len()].to_string(),
            size: Some(Size {
                width: 1024,
                height: 1024,
            }),
            steps: Some(30),
            seed: Some(i64::from(n) * 7),
            ..JobSpec::default()
        },
        remote_id: None,
        created_at: created,
        updated_at: created,
        finished_at: finished,
        retry_of: None,
        error: None,
        outputs: Vec::new(),
        times: BTreeMap::new(),
        idempotency_key: None,
        generation_ms: None,
        provider_requests: Vec::new(),
    }
}

/// A finished job with everything the detail screen shows.
pub fn rich_job() -> Job {
    let mut j = job(9, JobState::Succeeded);
    j.remote_id = Some("ms-task-8f2a".into());
    j.params.negative_prompt = Some("blurry, low contrast".into());
    j.params.guidance = Some(4.5);
    j.params.loras = vec![
        Lora {
            repo: "merjic/majicbeauty-qwen1".into(),
            weight: 0.7,
        },
        Lora {
            repo: "DiffSynth-Studio/Qwen-Image-Distill-LoRA".into(),
            weight: 0.3,
        },
    ];
    j.outputs = vec![Output {
        index: 0,
        path: Some("/home/u/.local/share/genq/outputs/019a0009/0.png".into()),
        sha256: Some("6704962d7a170a3e4a3bc77e5d5421041778af90cc5a62ecd016dcddfd563b1a".into()),
        size: Some(1_482_113),
        mime: Some("image/png".into()),
        width: Some(1024),
        height: Some(1024),
        source_url: Some("https://example.invalid/out/0.png".into()),
        uploads: vec![Upload {
            target: "cos".into(),
            url: Some("https://bucket.cos.example.invalid/genq/0.png".into()),
            error: None,
        }],
        label: None,
        format: None,
    }];
    j
}

/// A finished Tripo job: a GLB model, a PBR model and the rendered preview, uploaded,
/// with its generation time and the provider's trace ids.
pub fn model3d_job() -> Job {
    let mut j = job(11, JobState::Succeeded);
    assert_eq!(j.provider, "tripo");
    j.remote_id = Some("0b2e41c7-tripo-task".into());
    j.params.size = None;
    j.params.steps = None;
    j.params.seed = None;
    j.params
        .params
        .insert("texture_quality".into(), serde_json::json!("detailed"));
    j.generation_ms = Some(41_000);
    j.provider_requests = vec![
        ProviderRequest {
            call: "submit".into(),
            request_id: "tr-5d0c9a".into(),
            at: at(11 * 60 + 2),
        },
        ProviderRequest {
            call: "poll".into(),
            request_id: "tr-81f3e2".into(),
            at: at(11 * 60 + 40),
        },
    ];
    let dir = "/home/u/.local/share/genq/outputs/019a000b";
    let output = |index: u32, label: &str, format: &str, size: u64, mime: &str| Output {
        index,
        path: Some(format!("{dir}/{index}.{format}")),
        sha256: None,
        size: Some(size),
        mime: Some(mime.into()),
        width: None,
        height: None,
        source_url: None,
        uploads: vec![Upload {
            target: "cos".into(),
            url: Some(format!(
                "https://bucket.cos.example.invalid/genq/{index}.{format}"
            )),
            error: None,
        }],
        label: Some(label.into()),
        format: Some(format.into()),
    };
    j.outputs = vec![
        output(0, "model", "glb", 2_411_724, "model/gltf-binary"),
        output(1, "pbr_model", "glb", 3_170_304, "model/gltf-binary"),
        output(2, "rendered_image", "png", 182_044, "image/png"),
    ];
    j.outputs[2].width = Some(512);
    j.outputs[2].height = Some(512);
    j
}

pub fn failed_job() -> Job {
    let mut j = job(8, JobState::Failed);
    j.error = Some(JobError {
        kind: JobErrorKind::Quota,
        message: "daily quota spent (429 from provider)".into(),
        provider_request_id: Some("req-5b1c".into()),
    });
    j
}

pub fn events(job: &Job) -> Vec<Event> {
    let ev = |seq: u64, secs: i64, body| Event {
        seq,
        job_id: job.id.clone(),
        job_num: job.num,
        at: Timestamp::from_unix_millis(job.created_at.unix_millis() + secs * 1000),
        body,
    };
    use JobState::*;
    let first = job.outputs.first();
    let st = |from, to| EventBody::State {
        from,
        to,
        error: None,
    };
    vec![
        ev(
            1,
            0,
            EventBody::Created {
                provider: job.provider.clone(),
                model: job.model.clone(),
            },
        ),
        ev(2, 1, st(Queued, Submitting)),
        ev(
            3,
            2,
            EventBody::Remote {
                remote_id: job
                    .remote_id
                    .clone()
                    .unwrap_or_else(|| "ms-task-8f2a".into()),
                request_id: job.provider_requests.first().map(|r| r.request_id.clone()),
            },
        ),
        ev(4, 2, st(Submitting, Running)),
        ev(5, 20, EventBody::Progress { progress: 50 }),
        ev(6, 40, st(Running, Fetching)),
        ev(7, 42, st(Fetching, Storing)),
        ev(
            8,
            44,
            EventBody::Output {
                index: 0,
                path: first
                    .and_then(|o| o.path.clone())
                    .unwrap_or_else(|| "/home/u/.local/share/genq/outputs/019a0009/0.png".into()),
            },
        ),
        ev(
            9,
            46,
            EventBody::Upload {
                index: 0,
                target: "cos".into(),
                url: Some(
                    first
                        .and_then(|o| o.uploads.first())
                        .and_then(|u| u.url.clone())
                        .unwrap_or_else(|| "https://bucket.cos.example.invalid/genq/0.png".into()),
                ),
                error: None,
            },
        ),
        ev(10, 47, st(Storing, Succeeded)),
    ]
}

/// A mixed list, newest first, as `jobs.list` returns it.
pub fn mixed_jobs(count: u32) -> Vec<Job> {
    let states = [
        JobState::Running,
        JobState::Queued,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Succeeded,
        JobState::Canceled,
        JobState::Submitting,
        JobState::Succeeded,
    ];
    (0..count)
        .map(|i| {
            let n = count - i;
            let mut j = job(n, states[i as usize % states.len()]);
            if i == 0 {
                j.progress = Some(45);
            }
            if i == 6 {
                j.progress = None;
            }
            j
        })
        .collect()
}

/// An app connected to a daemon, with the first page of `total` jobs loaded.
pub fn app_with_jobs(size: (u16, u16), total: u32) -> App {
    let mut app = App::new(size, at(i64::from(total) * 60 + 95));
    app.update(Action::Connected {
        version: "0.1.0".into(),
    });
    let rows = app.table_rows().min(total as usize) as u32;
    let all = mixed_jobs(total);
    let generation = app.jobs.generation;
    app.update(Action::PageLoaded {
        generation,
        offset: 0,
        page: JobPage {
            jobs: all.into_iter().take(rows as usize).collect(),
            next_cursor: None,
            total: u64::from(total),
        },
    });
    app.shared.counts = [
        ("running", 3u64),
        ("queued", 2),
        ("succeeded", 30),
        ("failed", 5),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    app
}
