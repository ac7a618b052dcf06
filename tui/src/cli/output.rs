//! The CLI's views: the jobs table, the job detail of `genq show` and `genq daemon status`.
//! Pure functions of their data plus a [`Clock`], so tests pin them down with fixed times;
//! sizes, durations and states are written by [`crate::format`].

use crate::format::{
    Clock, FactWording, duration, duration_ms, one_line, output_facts, state_with_progress,
};
use genq_protocol::methods::StatusResult;
use genq_protocol::{Job, JobSpec, JobState, Output, Timestamp};
use std::fmt::Write as _;

/// The jobs table, newest first as given. `width` is the terminal's; the prompt column gets
/// what is left (at least 10 characters) and is not cut when there is no terminal.
pub fn jobs_table(jobs: &[Job], clock: &Clock, width: Option<usize>) -> String {
    let rows: Vec<[String; 5]> = jobs
        .iter()
        .map(|j| {
            [
                j.short_id(),
                state_with_progress(j),
                j.provider.clone(),
                j.model.clone().unwrap_or_else(|| "-".into()),
                clock.age(j.created_at),
            ]
        })
        .collect();
    let headers = ["ID", "STATE", "PROVIDER", "MODEL", "AGE"];
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Models can be long repository ids; keep the table readable.
    widths[3] = widths[3].min(32);
    let fixed: usize = widths.iter().map(|w| w + 2).sum();
    let prompt_width = width.map(|w| w.saturating_sub(fixed).max(10));

    let mut out = String::new();
    let line = |cells: [&str; 5], prompt: &str| {
        let mut l = String::new();
        for (cell, w) in cells.iter().zip(widths) {
            let cell = one_line(cell, w);
            let _ = write!(l, "{cell:<w$}  ");
        }
        l.push_str(prompt);
        l.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(headers, "PROMPT"));
    for (row, job) in rows.iter().zip(jobs) {
        let prompt = match prompt_width {
            Some(w) => one_line(job.prompt(), w),
            None => one_line(job.prompt(), usize::MAX),
        };
        let cells = [
            row[0].as_str(),
            row[1].as_str(),
            row[2].as_str(),
            row[3].as_str(),
            row[4].as_str(),
        ];
        let _ = writeln!(out, "{}", line(cells, &prompt));
    }
    out
}

/// Everything about one job, for `genq show`.
pub fn show_job(job: &Job, clock: &Clock) -> String {
    let mut out = String::new();
    write_fields(&mut out, job, clock);
    write_params(&mut out, &job.params);
    write_states(&mut out, job, clock);
    write_error_and_requests(&mut out, job, clock);
    if !job.outputs.is_empty() {
        let _ = writeln!(out, "\noutputs:");
        for o in &job.outputs {
            write_output(&mut out, o);
        }
    }
    out
}

/// The job's own facts, one `name: value` a line.
fn write_fields(out: &mut String, job: &Job, clock: &Clock) {
    let mut field = |name: &str, value: &str| {
        let _ = writeln!(out, "{:<13}{value}", format!("{name}:"));
    };
    field("job", &job.short_id());
    field("id", job.id.as_str());
    field("kind", job.kind.as_str());
    field("provider", &job.provider);
    field("model", job.model.as_deref().unwrap_or("-"));
    field("state", &state_with_progress(job));
    if let Some(remote) = &job.remote_id {
        field("remote id", remote);
    }
    if let Some(of) = &job.retry_of {
        field("retry of", of.as_str());
    }
    if let Some(key) = &job.idempotency_key {
        field("idem. key", key);
    }
    field(
        "created",
        &format!(
            "{} ({} ago)",
            clock.datetime(job.created_at),
            clock.age(job.created_at)
        ),
    );
    field("updated", &clock.datetime(job.updated_at));
    if let Some(done) = job.finished_at {
        field(
            "finished",
            &format!(
                "{} (took {})",
                clock.datetime(done),
                duration_ms(done.millis_since(job.created_at))
            ),
        );
    }
    if let Some(ms) = job.generation_ms {
        field("generation", &duration_ms(ms.min(i64::MAX as u64) as i64));
    }
}

/// What was asked for, as submitted.
fn write_params(out: &mut String, p: &JobSpec) {
    let _ = writeln!(out, "\nparameters:");
    let mut param = |name: &str, value: String| {
        // Continuation lines of a multi-line prompt line up under its first line.
        let value = value.replace('\n', &format!("\n{:19}", ""));
        let _ = writeln!(out, "  {:<17}{value}", format!("{name}:"));
    };
    if let Some(kind) = p.kind {
        param("kind", kind.as_str().into());
    }
    param("prompt", p.prompt.clone());
    if let Some(neg) = &p.negative_prompt {
        param("negative prompt", neg.clone());
    }
    if let Some(size) = p.size {
        param("size", size.to_string());
    }
    if let Some(seed) = p.seed {
        param("seed", seed.to_string());
    }
    if let Some(steps) = p.steps {
        param("steps", steps.to_string());
    }
    if let Some(g) = p.guidance {
        param("guidance", g.to_string());
    }
    for lora in &p.loras {
        param("lora", format!("{} (weight {})", lora.repo, lora.weight));
    }
    if let Some(image) = &p.image {
        param("image", image.clone());
    }
    for (name, path) in &p.views {
        param(&format!("view {name}"), path.clone());
    }
    if let Some(n) = p.n {
        param("n", n.to_string());
    }
    for (key, value) in &p.params {
        param(&format!("param {key}"), value.to_string());
    }
    match &p.store {
        None => param("store", "configured defaults".into()),
        Some(s) if s.is_empty() => param("store", "local only".into()),
        Some(s) => param("store", s.join(", ")),
    }
}

/// When the job entered each state, with the gap since the one before.
fn write_states(out: &mut String, job: &Job, clock: &Clock) {
    if !job.times.is_empty() {
        let _ = writeln!(out, "\nstates:");
        let mut times: Vec<_> = job.times.iter().collect();
        times.sort_by_key(|(state, at)| (**at, **state));
        let mut prev: Option<Timestamp> = None;
        for (state, at) in times {
            let gap = prev.map_or(String::new(), |p| {
                format!("  (+{})", duration_ms(at.millis_since(p)))
            });
            let _ = writeln!(out, "  {:<12}{}{gap}", state.as_str(), clock.datetime(*at));
            prev = Some(*at);
        }
    }
}

/// Why the job failed, and the provider's ids of each request, for support tickets.
fn write_error_and_requests(out: &mut String, job: &Job, clock: &Clock) {
    if let Some(err) = &job.error {
        let _ = writeln!(out, "\nerror:");
        let _ = writeln!(out, "  kind:        {}", err.kind);
        let _ = writeln!(out, "  message:     {}", err.message);
        if let Some(id) = &err.provider_request_id {
            let _ = writeln!(out, "  request id:  {id}");
        }
    }

    if !job.provider_requests.is_empty() {
        let _ = writeln!(out, "\nprovider request ids:");
        for r in &job.provider_requests {
            let _ = writeln!(
                out,
                "  {:<9}{}  {}",
                r.call,
                r.request_id,
                clock.datetime(r.at)
            );
        }
    }
}

fn write_output(out: &mut String, o: &Output) {
    let _ = writeln!(
        out,
        "  [{}] {}",
        o.index,
        o.path.as_deref().unwrap_or("(not stored locally)")
    );
    if let Some(facts) = output_facts(o, FactWording::Plain) {
        let _ = writeln!(out, "      {facts}");
    }
    if let Some(sha) = &o.sha256 {
        let _ = writeln!(out, "      sha256 {sha}");
    }
    if let Some(url) = &o.source_url {
        let _ = writeln!(out, "      from   {url}");
    }
    for up in &o.uploads {
        let what = match (&up.url, &up.error) {
            (_, Some(err)) => format!("failed: {err}"),
            (Some(url), None) => url.clone(),
            (None, None) => "uploaded".into(),
        };
        let _ = writeln!(out, "      upload {}: {what}", up.target);
    }
}

/// `genq daemon status` for people.
pub fn status(s: &StatusResult) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: &str| {
        let _ = writeln!(out, "{:<14}{value}", format!("{name}:"));
    };
    field("pid", &s.pid.to_string());
    field("version", &s.version);
    field("protocol", &s.protocol.to_string());
    field("socket", &s.socket);
    field("database", &s.db);
    field("config", &s.config);
    if let Some(home) = &s.home {
        field("home", home);
    }
    if let Some(http) = &s.http {
        field("http", &format!("http://{http}"));
    }
    field("uptime", &duration(s.uptime_s));
    // States in lifecycle order, then any this client does not know.
    let mut counts: Vec<String> = JobState::ALL
        .iter()
        .filter_map(|st| s.jobs.get(st.as_str()).map(|n| (st.as_str(), *n)))
        .chain(
            s.jobs
                .iter()
                .filter(|(k, _)| k.parse::<JobState>().is_err())
                .map(|(k, n)| (k.as_str(), *n)),
        )
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if counts.is_empty() {
        counts.push("none".into());
    }
    field("jobs", &counts.join(", "));
    if let Some(err) = &s.config_error {
        field("config error", err);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::format::job_failure;
    use crate::format::tests::{T0, clock};
    use genq_protocol::{
        JobError, JobErrorKind, JobId, JobKind, JobSpec, Lora, ProviderRequest, Size, Upload,
    };
    use std::collections::BTreeMap;

    pub(crate) fn sample_job() -> Job {
        let at = |s: i64| Timestamp::from_unix_millis(T0 + s * 1000);
        let mut times = BTreeMap::new();
        times.insert(JobState::Queued, at(0));
        times.insert(JobState::Submitting, at(1));
        times.insert(JobState::Running, at(2));
        times.insert(JobState::Fetching, at(30));
        times.insert(JobState::Storing, at(31));
        times.insert(JobState::Succeeded, at(32));
        Job {
            id: JobId("0190f3a1-7c2e-7000-8000-000000000001".into()),
            num: Some(7),
            kind: JobKind::Image,
            provider: "modelscope".into(),
            model: Some("Qwen/Qwen-Image".into()),
            state: JobState::Succeeded,
            progress: Some(100),
            params: JobSpec {
                provider: "modelscope".into(),
                model: Some("Qwen/Qwen-Image".into()),
                prompt: "a red fox\nin the snow".into(),
                size: Some(Size {
                    width: 1024,
                    height: 768,
                }),
                seed: Some(42),
                loras: vec![Lora {
                    repo: "owner/style".into(),
                    weight: 0.5,
                }],
                params: BTreeMap::from([("sampler".to_string(), serde_json::json!("euler"))]),
                store: Some(vec!["s3".into()]),
                ..JobSpec::default()
            },
            remote_id: Some("task-9".into()),
            created_at: at(0),
            updated_at: at(32),
            finished_at: Some(at(32)),
            retry_of: None,
            error: None,
            outputs: vec![Output {
                index: 0,
                path: Some("/data/outputs/fox.png".into()),
                sha256: Some("ab12".into()),
                size: Some(1_572_864),
                mime: Some("image/png".into()),
                width: Some(1024),
                height: Some(768),
                source_url: Some("https://cdn.example/fox.png".into()),
                uploads: vec![Upload {
                    target: "s3".into(),
                    url: Some("s3://bucket/fox.png".into()),
                    error: None,
                }],
                label: None,
                format: Some("png".into()),
            }],
            times,
            idempotency_key: None,
            generation_ms: Some(28_000),
            provider_requests: vec![
                ProviderRequest {
                    call: "submit".into(),
                    request_id: "req-1".into(),
                    at: at(2),
                },
                ProviderRequest {
                    call: "poll".into(),
                    request_id: "req-2".into(),
                    at: at(30),
                },
            ],
        }
    }

    #[test]
    fn table_lists_short_ids_and_cuts_prompts_to_the_width() {
        let mut failed = sample_job();
        failed.id = JobId("0190f3a2-0000-7000-8000-000000000002".into());
        failed.num = Some(8);
        failed.state = JobState::Running;
        failed.progress = Some(42);
        failed.params.prompt = "x".repeat(200);
        failed.created_at = Timestamp::from_unix_millis(T0 + 3 * 3600 * 1000 - 90_000);
        let table = jobs_table(&[failed, sample_job()], &clock(), Some(80));
        let expected = "\
ID  STATE        PROVIDER    MODEL            AGE  PROMPT
8   running 42%  modelscope  Qwen/Qwen-Image  1m   xxxxxxxxxxxxxxxxxxxxxxxxxxxx…
7   succeeded    modelscope  Qwen/Qwen-Image  3h   a red fox in the snow
";
        assert_eq!(table, expected);
        for line in table.lines() {
            assert!(line.chars().count() <= 80, "{line:?}");
        }
    }

    #[test]
    fn table_without_terminal_keeps_whole_prompts() {
        let mut job = sample_job();
        job.params.prompt = "y".repeat(300);
        let table = jobs_table(&[job], &clock(), None);
        assert!(table.contains(&"y".repeat(300)));
    }

    #[test]
    fn show_has_params_times_and_outputs() {
        let text = show_job(&sample_job(), &clock());
        let expected = "\
job:         7
id:          0190f3a1-7c2e-7000-8000-000000000001
kind:        image
provider:    modelscope
model:       Qwen/Qwen-Image
state:       succeeded
remote id:   task-9
created:     2025-11-22 05:44:00.000 (3h ago)
updated:     2025-11-22 05:44:32.000
finished:    2025-11-22 05:44:32.000 (took 32.0s)
generation:  28.0s

parameters:
  prompt:          a red fox
                   in the snow
  size:            1024x768
  seed:            42
  lora:            owner/style (weight 0.5)
  param sampler:   \"euler\"
  store:           s3

states:
  queued      2025-11-22 05:44:00.000
  submitting  2025-11-22 05:44:01.000  (+1.0s)
  running     2025-11-22 05:44:02.000  (+1.0s)
  fetching    2025-11-22 05:44:30.000  (+28.0s)
  storing     2025-11-22 05:44:31.000  (+1.0s)
  succeeded   2025-11-22 05:44:32.000  (+1.0s)

provider request ids:
  submit   req-1  2025-11-22 05:44:02.000
  poll     req-2  2025-11-22 05:44:30.000

outputs:
  [0] /data/outputs/fox.png
      png, 1.5 MiB, 1024x768, image/png
      sha256 ab12
      from   https://cdn.example/fox.png
      upload s3: s3://bucket/fox.png
";
        assert_eq!(text, expected);
    }

    #[test]
    fn show_and_failure_line_carry_the_error() {
        let mut job = sample_job();
        job.state = JobState::Failed;
        job.outputs.clear();
        job.error = Some(JobError {
            kind: JobErrorKind::ContentPolicy,
            message: "prompt refused".into(),
            provider_request_id: Some("req-77".into()),
        });
        let text = show_job(&job, &clock());
        assert!(text.contains("error:\n  kind:        content_policy\n  message:     prompt refused\n  request id:  req-77\n"), "{text}");
        assert_eq!(
            job_failure(&job),
            "job 7 failed: content_policy: prompt refused (request id req-77)"
        );
    }

    #[test]
    fn status_lists_fields_and_jobs_in_lifecycle_order() {
        let s = StatusResult {
            pid: 4242,
            version: "0.1.0".into(),
            protocol: 1,
            socket: "/run/genq.sock".into(),
            db: "/data/genq.db".into(),
            uptime_s: 3725,
            jobs: BTreeMap::from([
                ("succeeded".to_string(), 7),
                ("queued".to_string(), 2),
                ("failed".to_string(), 0),
            ]),
            config_error: Some("providers.x.timeout_s: not a number".into()),
            config: "/cfg/config.toml".into(),
            home: None,
            http: None,
        };
        let expected = "\
pid:          4242
version:      0.1.0
protocol:     1
socket:       /run/genq.sock
database:     /data/genq.db
config:       /cfg/config.toml
uptime:       1h 2m 5s
jobs:         queued 2, succeeded 7
config error: providers.x.timeout_s: not a number
";
        assert_eq!(status(&s), expected);
    }
}
