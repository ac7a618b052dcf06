//! Following jobs until they end, for `submit --wait` and `wait`: subscribe first, then read
//! each job, then apply events as they arrive (re-reading the jobs after a resync). Shows a
//! progress bar per job on a terminal and plain lines otherwise, both on stderr.

use super::ctx::Ctx;
use super::error::CliError;
use crate::client::Client;
use crate::format;
use genq_protocol::methods::{
    JobRef, JobsGet, JobsList, ListParams, NOTIFY_EVENT, NOTIFY_RESYNC, ResyncParams, Subscribe,
    SubscribeParams,
};
use genq_protocol::rpc::Notification;
use genq_protocol::{Event, EventBody, Job, JobState, Timestamp};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// How the followed jobs ended.
pub struct Outcome {
    /// Every followed job in its final state, in the order asked for.
    pub jobs: Vec<Job>,
    /// How many did not succeed.
    pub failed: usize,
}

/// Follows `ids` (job numbers, ids or unique starts of ids) until every job is final. Errors of jobs that did
/// not succeed are printed on stderr as they end.
pub async fn follow(
    ctx: &Ctx,
    client: &Client,
    mut notes: mpsc::Receiver<Notification>,
    ids: &[String],
) -> Result<Outcome, CliError> {
    let head = client
        .call::<Subscribe>(SubscribeParams { since_seq: None })
        .await?
        .head_seq;
    let mut tracker = Tracker::new(head);
    let mut order = Vec::new();
    for id in ids {
        let job = client.call::<JobsGet>(JobRef { id: id.clone() }).await?;
        if !order.contains(&job.id.0) {
            order.push(job.id.0.clone());
            tracker.jobs.insert(job.id.0.clone(), job);
        }
    }
    let followed: Vec<&Job> = order.iter().filter_map(|id| tracker.jobs.get(id)).collect();
    let mut view = Progress::new(ctx, &followed);
    if let Progress::Bars { typical, .. } = &mut view {
        *typical = typical_durations(client, tracker.jobs.values()).await;
    }
    for id in &order {
        if let Some(job) = tracker.jobs.get(id) {
            view.show(job);
        }
    }

    let mut interrupt = signal(SignalKind::interrupt())
        .map_err(|e| CliError::Failed(format!("cannot watch for Ctrl-C: {e}")))?;
    let mut client = client.clone();
    while !tracker.all_final() {
        let note = tokio::select! {
            note = notes.recv() => note,
            _ = interrupt.recv() => {
                view.clear();
                return Err(CliError::Interrupted);
            }
        };
        let refresh = match note {
            None => {
                // Over ssh: dial again, replay what came after the last event, and re-read
                // the jobs still open.
                (client, notes) = ctx.reconnect().await?;
                client
                    .call::<Subscribe>(SubscribeParams {
                        since_seq: Some(tracker.last_seq),
                    })
                    .await?;
                tracker.pending()
            }
            Some(note) => match note.method.as_str() {
                NOTIFY_EVENT => {
                    let Some(event) = parse::<Event>(&note) else {
                        continue;
                    };
                    match tracker.apply(&event) {
                        Applied::Ignored => Vec::new(),
                        Applied::Changed(id) => {
                            if let Some(job) = tracker.jobs.get(&id) {
                                view.show(job);
                            }
                            Vec::new()
                        }
                        // The event says less than the job record (outputs, the full error).
                        Applied::Ended(id) => vec![id],
                    }
                }
                NOTIFY_RESYNC => {
                    let last =
                        parse::<ResyncParams>(&note).map_or(tracker.last_seq, |r| r.last_seq);
                    client
                        .call::<Subscribe>(SubscribeParams {
                            since_seq: Some(last),
                        })
                        .await?;
                    tracker.last_seq = last;
                    tracker.pending()
                }
                _ => Vec::new(),
            },
        };
        for id in refresh {
            let job = client.call::<JobsGet>(JobRef { id: id.clone() }).await?;
            view.show(&job);
            tracker.jobs.insert(id, job);
        }
    }

    view.finish();
    Ok(outcome(&order, tracker))
}

/// The followed jobs in the order asked for; the error of each that did not succeed is
/// printed on stderr.
fn outcome(order: &[String], mut tracker: Tracker) -> Outcome {
    let jobs: Vec<Job> = order
        .iter()
        .filter_map(|id| tracker.jobs.remove(id))
        .collect();
    let mut failed = 0;
    for job in &jobs {
        if job.state != JobState::Succeeded {
            failed += 1;
            eprintln!("genq: {}", format::job_failure(job));
        }
    }
    Outcome { jobs, failed }
}

/// How long jobs of each provider and model usually take from creation to the end: the
/// median of their latest successes. Missing when there is no history (or no answer).
async fn typical_durations<'a>(
    client: &Client,
    jobs: impl Iterator<Item = &'a Job>,
) -> BTreeMap<(String, Option<String>), Duration> {
    let mut out = BTreeMap::new();
    let mut providers: Vec<&str> = Vec::new();
    let jobs: Vec<&Job> = jobs.collect();
    for job in &jobs {
        if !providers.contains(&job.provider.as_str()) {
            providers.push(&job.provider);
        }
    }
    for provider in providers {
        let params = ListParams {
            state: vec![JobState::Succeeded],
            provider: Some(provider.to_string()),
            limit: Some(100),
            ..ListParams::default()
        };
        let Ok(page) = client.call::<JobsList>(params).await else {
            continue;
        };
        let mut by_model: BTreeMap<Option<String>, Vec<i64>> = BTreeMap::new();
        for done in &page.jobs {
            if let Some(end) = done.finished_at {
                by_model
                    .entry(done.model.clone())
                    .or_default()
                    .push(end.millis_since(done.created_at));
            }
        }
        for (model, mut times) in by_model {
            times.sort_unstable();
            let median = times[times.len() / 2].max(0) as u64;
            out.insert((provider.to_string(), model), Duration::from_millis(median));
        }
    }
    out
}

fn parse<T: serde::de::DeserializeOwned>(note: &Notification) -> Option<T> {
    serde_json::from_value(note.params.clone()?).ok()
}

/// The followed jobs as the events have left them.
struct Tracker {
    jobs: BTreeMap<String, Job>,
    /// The newest event seen; older ones (replays after a resync) are skipped.
    last_seq: u64,
}

#[derive(Debug, PartialEq)]
enum Applied {
    Ignored,
    Changed(String),
    Ended(String),
}

impl Tracker {
    fn new(head: u64) -> Self {
        Tracker {
            jobs: BTreeMap::new(),
            last_seq: head,
        }
    }

    fn all_final(&self) -> bool {
        self.jobs.values().all(|j| j.state.is_final())
    }

    fn pending(&self) -> Vec<String> {
        self.jobs
            .values()
            .filter(|j| !j.state.is_final())
            .map(|j| j.id.0.clone())
            .collect()
    }

    fn apply(&mut self, event: &Event) -> Applied {
        if event.seq <= self.last_seq {
            return Applied::Ignored;
        }
        self.last_seq = event.seq;
        let Some(job) = self.jobs.get_mut(&event.job_id.0) else {
            return Applied::Ignored;
        };
        if job.state.is_final() {
            return Applied::Ignored;
        }
        match &event.body {
            EventBody::State { to, error, .. } => {
                job.state = *to;
                if error.is_some() {
                    job.error = error.clone();
                }
                job.updated_at = event.at;
                if to.is_final() {
                    return Applied::Ended(job.id.0.clone());
                }
            }
            EventBody::Progress { progress } => job.progress = Some(*progress),
            EventBody::Remote { remote_id, .. } => job.remote_id = Some(remote_id.clone()),
            EventBody::Created { .. }
            | EventBody::Output { .. }
            | EventBody::Upload { .. }
            | EventBody::Note { .. }
            | EventBody::Removed { .. } => return Applied::Ignored,
        }
        Applied::Changed(job.id.0.clone())
    }
}

/// Where progress goes: bars on a terminal, one line per change otherwise.
enum Progress {
    Bars {
        multi: MultiProgress,
        bars: BTreeMap<String, ProgressBar>,
        /// Usual run times by provider and model.
        typical: BTreeMap<(String, Option<String>), Duration>,
        /// What each bar shows so far (none before the job's first sight).
        looks: BTreeMap<String, Look>,
    },
    Lines {
        ctx: format::Clock,
        last: BTreeMap<String, String>,
    },
}

impl Progress {
    fn new(ctx: &Ctx, jobs: &[&Job]) -> Self {
        if !std::io::stderr().is_terminal() {
            return Progress::Lines {
                ctx: ctx.clock(),
                last: BTreeMap::new(),
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let bars = jobs
            .iter()
            .map(|job| {
                let bar = multi.add(ProgressBar::new(100).with_style(time_style(None)));
                bar.set_prefix(job.short_id());
                bar.enable_steady_tick(Duration::from_millis(120));
                (job.id.0.clone(), bar)
            })
            .collect();
        Progress::Bars {
            multi,
            bars,
            typical: BTreeMap::new(),
            looks: BTreeMap::new(),
        }
    }

    fn show(&mut self, job: &Job) {
        let status = format::state_with_progress(job);
        match self {
            Progress::Bars {
                bars,
                typical,
                looks,
                ..
            } => {
                let Some(bar) = bars.get(&job.id.0) else {
                    return;
                };
                if !looks.contains_key(&job.id.0) {
                    // The clock starts when the job was created.
                    let since = Timestamp::now().millis_since(job.created_at).max(0) as u64;
                    bar.set_style(time_style(
                        typical.get(&(job.provider.clone(), job.model.clone())),
                    ));
                    bar.set_elapsed(Duration::from_millis(since));
                    looks.insert(job.id.0.clone(), Look::Time);
                }
                match job.progress {
                    Some(p) if !job.state.is_final() => {
                        if looks.insert(job.id.0.clone(), Look::Percent) == Some(Look::Time) {
                            bar.set_style(percent_style());
                        }
                        bar.set_position(u64::from(p));
                        bar.set_message(job.state.to_string());
                    }
                    _ => bar.set_message(status.clone()),
                }
                if job.state == JobState::Succeeded {
                    bar.finish_with_message(status);
                } else if job.state.is_final() {
                    // The bar stays where the job stopped.
                    bar.abandon_with_message(status);
                }
            }
            Progress::Lines { ctx, last } => {
                if last.get(&job.id.0) != Some(&status) {
                    eprintln!(
                        "{} {} {status}",
                        ctx.time_of_day(job.updated_at),
                        job.short_id()
                    );
                    last.insert(job.id.0.clone(), status);
                }
            }
        }
    }

    fn clear(&self) {
        if let Progress::Bars { multi, .. } = self {
            let _ = multi.clear();
        }
    }

    fn finish(&self) {
        if let Progress::Bars { bars, .. } = self {
            for bar in bars.values() {
                if !bar.is_finished() {
                    bar.finish();
                }
            }
            // The last bar leaves the cursor at its end; what is printed next starts below.
            eprintln!();
        }
    }
}

/// A bar shows elapsed time until the provider reports a percentage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Look {
    Time,
    Percent,
}

/// A bar with the provider's percentage.
fn percent_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner:.cyan} {prefix:.bold} {msg:<10} [{bar:24.cyan/blue}] {percent:>3}%  {elapsed}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

/// Elapsed time, against the usual run time when there is one.
fn time_style(typical: Option<&Duration>) -> ProgressStyle {
    let template = match typical {
        Some(t) => format!(
            "{{spinner:.cyan}} {{prefix:.bold}} {{msg:<10}} {{elapsed}} of ~{} typical",
            format::duration(t.as_secs().max(1))
        ),
        None => "{spinner:.cyan} {prefix:.bold} {msg:<10} {elapsed}".to_string(),
    };
    ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::tests::sample_job;
    use genq_protocol::{JobError, JobErrorKind, JobId, Timestamp};

    fn event(seq: u64, id: &str, body: EventBody) -> Event {
        Event {
            seq,
            job_id: JobId(id.into()),
            job_num: Some(7),
            at: Timestamp::from_unix_millis(1_000 + seq as i64),
            body,
        }
    }

    #[test]
    fn applies_new_events_and_skips_replayed_and_foreign_ones() {
        let mut job = sample_job();
        job.state = JobState::Running;
        job.progress = None;
        let id = job.id.0.clone();
        let mut t = Tracker::new(10);
        t.jobs.insert(id.clone(), job);

        assert_eq!(
            t.apply(&event(11, &id, EventBody::Progress { progress: 40 })),
            Applied::Changed(id.clone())
        );
        assert_eq!(t.jobs[&id].progress, Some(40));
        // A replay of an event already seen changes nothing.
        assert_eq!(
            t.apply(&event(11, &id, EventBody::Progress { progress: 10 })),
            Applied::Ignored
        );
        assert_eq!(t.jobs[&id].progress, Some(40));
        assert_eq!(
            t.apply(&event(12, "other", EventBody::Progress { progress: 5 })),
            Applied::Ignored
        );
        assert!(!t.all_final());
        let failed = EventBody::State {
            from: JobState::Running,
            to: JobState::Failed,
            error: Some(JobError {
                kind: JobErrorKind::Quota,
                message: "daily quota spent".into(),
                provider_request_id: Some("req-1".into()),
            }),
        };
        assert_eq!(t.apply(&event(13, &id, failed)), Applied::Ended(id.clone()));
        assert!(t.all_final());
        assert!(t.pending().is_empty());
        assert_eq!(
            t.jobs[&id].error.as_ref().map(|e| e.kind),
            Some(JobErrorKind::Quota)
        );
    }

    /// A stand-in daemon on a real socket: answers hello, subscribe and jobs.get, and after
    /// the first read of the job sends a progress event, a stale replay and a resync, and
    /// after the second subscribe the job's final transition. `final_state` is what the job ends in.
    async fn fake_daemon(
        listener: tokio::net::UnixListener,
        final_state: JobState,
    ) -> Vec<serde_json::Value> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut running = sample_job();
        running.state = JobState::Running;
        running.progress = None;
        running.outputs.clear();
        let mut done = sample_job();
        done.state = final_state;
        if final_state == JobState::Failed {
            done.outputs.clear();
            done.error = Some(JobError {
                kind: JobErrorKind::Provider,
                message: "upstream 500".into(),
                provider_request_id: Some("req-9".into()),
            });
        }
        let id = running.id.0.clone();
        let mut requests = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let req: serde_json::Value = serde_json::from_str(&line).unwrap();
            requests.push(req.clone());
            let rid = req["id"].clone();
            let method = req["method"].as_str().unwrap_or_default().to_string();
            let subscribes = requests
                .iter()
                .filter(|r| r["method"] == "subscribe")
                .count();
            let gets = requests
                .iter()
                .filter(|r| r["method"] == "jobs.get")
                .count();
            let result = match method.as_str() {
                "hello" => serde_json::json!({"protocol": 1, "version": "test", "pid": 1}),
                "subscribe" => serde_json::json!({"head_seq": 10}),
                // The third read comes after the final event: the job is done by then.
                "jobs.get" if gets >= 3 => serde_json::to_value(&done).unwrap(),
                "jobs.get" => serde_json::to_value(&running).unwrap(),
                other => panic!("unexpected method {other}"),
            };
            let mut out = serde_json::json!({"jsonrpc": "2.0", "id": rid, "result": result})
                .to_string()
                + "\n";
            let note = |method: &str, params: serde_json::Value| {
                serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params})
                    .to_string()
                    + "\n"
            };
            if method == "jobs.get" && subscribes == 1 && gets == 1 {
                let progress = event(11, &id, EventBody::Progress { progress: 50 });
                out += &note("event", serde_json::to_value(&progress).unwrap());
                // A replay of an old event the client must skip.
                out += &note(
                    "event",
                    serde_json::to_value(event(9, &id, EventBody::Progress { progress: 1 }))
                        .unwrap(),
                );
                out += &note(
                    "resync",
                    serde_json::json!({"last_seq": 11, "reason": "test"}),
                );
            }
            if method == "subscribe" && subscribes == 2 {
                let end = event(
                    12,
                    &id,
                    EventBody::State {
                        from: JobState::Running,
                        to: final_state,
                        error: done.error.clone(),
                    },
                );
                out += &note("event", serde_json::to_value(&end).unwrap());
            }
            write.write_all(out.as_bytes()).await.unwrap();
            if gets == 3 {
                break; // the client has the final record
            }
        }
        requests
    }

    async fn follow_against_fake(final_state: JobState) -> (Outcome, Vec<serde_json::Value>) {
        let home = tempfile::tempdir().unwrap();
        let paths = genq_protocol::Paths::resolve(
            |k| (k == "GENQ_HOME").then(|| home.path().to_path_buf()),
            0,
        );
        std::fs::create_dir_all(paths.socket_dir()).unwrap();
        std::fs::set_permissions(
            paths.socket_dir(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let listener = tokio::net::UnixListener::bind(&paths.socket).unwrap();
        let server = tokio::spawn(fake_daemon(listener, final_state));
        let ctx = Ctx {
            endpoint: crate::client::Endpoint::Local(paths.clone().into()),
            paths,
            autostart: false,
            offset: time::UtcOffset::UTC,
            color: crate::cli::color::ColorMode::Never,
        };
        let (client, notes) = ctx.connect().await.unwrap();
        let outcome = follow(&ctx, &client, notes, &["0190f3a1".to_string()])
            .await
            .unwrap();
        drop(client);
        let requests = server.await.unwrap();
        (outcome, requests)
    }

    #[tokio::test]
    async fn follows_a_job_through_a_resync_to_success() {
        let (outcome, requests) = follow_against_fake(JobState::Succeeded).await;
        assert_eq!(outcome.failed, 0);
        assert_eq!(outcome.jobs.len(), 1);
        let job = &outcome.jobs[0];
        assert_eq!(job.state, JobState::Succeeded);
        // The final record was re-read, so it carries the outputs the events do not.
        assert_eq!(job.outputs.len(), 1);
        let methods: Vec<&str> = requests
            .iter()
            .filter_map(|r| r["method"].as_str())
            .collect();
        // Subscribed before reading the job; after the resync, subscribed again from the
        // resync's seq and re-read the job; read the final record after the final event.
        assert_eq!(
            methods,
            [
                "hello",
                "subscribe",
                "jobs.get",
                "subscribe",
                "jobs.get",
                "jobs.get"
            ]
        );
        assert_eq!(requests[1]["params"]["since_seq"], serde_json::Value::Null);
        assert_eq!(requests[2]["params"]["id"], "0190f3a1");
        assert_eq!(requests[3]["params"]["since_seq"], 11);
    }

    #[tokio::test]
    async fn a_failed_job_is_counted_with_its_error() {
        let (outcome, _) = follow_against_fake(JobState::Failed).await;
        assert_eq!(outcome.failed, 1);
        let err = outcome.jobs[0].error.as_ref().unwrap();
        assert_eq!(err.provider_request_id.as_deref(), Some("req-9"));
    }
}
