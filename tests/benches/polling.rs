//! Poll efficiency: the same ModelScope tasks, with realistic run times (uniform 20–60 s),
//! followed by genq's adaptive `PollSchedule` and by fixed 2 s and 5 s pollers, over real
//! HTTP against the fake server. Time is scaled down by `SCALE` so a run takes well under a
//! minute; every figure is printed in unscaled seconds.
//!
//! For each poller: requests per job (polls until the success was seen) and detection
//! latency (time from the task's real finish to the poll that saw it). The adaptive
//! schedule is built the way the engine builds it: from the run times of the model's most
//! recent successful jobs (as the engine measures them, finish detection included), or the
//! provider's typical duration before there is any history.
//!
//! Run: `cargo bench -p genq-e2e --bench polling` (or `cargo test -p genq-e2e --bench
//! polling` for a debug build).

use genq_daemon::engine::poll::PollSchedule;
use genq_e2e::fakes::{ModelScopeFake, MsOutcome, MsScript};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Real seconds per simulated second.
const SCALE: f64 = 1.0 / 50.0;
const JOBS: usize = 120;
/// Jobs followed at once; history grows between batches, as jobs finish.
const BATCH: usize = 12;
/// Run times are uniform in this range, in simulated seconds.
const MIN_S: f64 = 20.0;
const MAX_S: f64 = 60.0;
/// What the engine uses before any history: ModelScope's typical duration.
const TYPICAL_S: f64 = 30.0;
/// The engine's poll floor and cap, and how many recent jobs it learns from.
const FLOOR_S: f64 = 0.5;
const CAP_S: f64 = 15.0;
const HISTORY: usize = 15;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Poller {
    /// genq's schedule, with its default density or this one.
    Adaptive(Option<u32>),
    Fixed(f64),
}

impl Poller {
    fn label(self) -> String {
        match self {
            Poller::Adaptive(None) => "adaptive (genq)".into(),
            Poller::Adaptive(Some(n)) => format!("adaptive, N={n}"),
            Poller::Fixed(s) => format!("fixed {s} s"),
        }
    }
}

#[derive(Default)]
struct Stats {
    requests: Vec<u32>,
    /// Unscaled seconds.
    latency: Vec<f64>,
}

impl Stats {
    fn mean_requests(&self) -> f64 {
        self.requests.iter().map(|r| f64::from(*r)).sum::<f64>() / self.requests.len() as f64
    }

    fn mean_latency(&self) -> f64 {
        self.latency.iter().sum::<f64>() / self.latency.len() as f64
    }

    fn p90_latency(&self) -> f64 {
        let mut l = self.latency.clone();
        l.sort_by(f64::total_cmp);
        l[(l.len() * 9 / 10).min(l.len() - 1)]
    }
}

fn scaled(simulated_s: f64) -> Duration {
    Duration::from_secs_f64(simulated_s * SCALE)
}

/// xorshift64*: the same durations on every run, no extra dependency.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Task {
    id: String,
    /// When the task finishes at the fake (its creation plus its run time).
    finishes: Instant,
    submitted: Instant,
}

async fn submit(http: &reqwest::Client, ms: &ModelScopeFake, run: Duration) -> Task {
    ms.script_next(MsScript {
        duration: run,
        not_found_for: Some(run / 20),
        running_status: None,
        outcome: MsOutcome::Succeed,
    });
    let before = Instant::now();
    let reply: Value = http
        .post(format!("{}/v1/images/generations", ms.base_url()))
        .bearer_auth(ms.key())
        .header("X-ModelScope-Async-Mode", "true")
        .json(&json!({"model": "Qwen/Qwen-Image", "prompt": "a benchmark"}))
        .send()
        .await
        .expect("submit")
        .json()
        .await
        .expect("submit reply");
    let after = Instant::now();
    // The fake stamps the task between the two.
    let created = before + (after - before) / 2;
    Task {
        id: reply["task_id"].as_str().expect("task_id").to_string(),
        finishes: created + run,
        submitted: created,
    }
}

/// Follows one task to its success; returns (requests, unscaled latency in seconds, scaled
/// run time as the engine would record it).
async fn follow(
    http: &reqwest::Client,
    ms: &ModelScopeFake,
    task: Task,
    poller: Poller,
    history: &[Duration],
) -> (u32, f64, Duration) {
    let mut schedule = match poller {
        Poller::Adaptive(density) => Some(schedule(history, density)),
        Poller::Fixed(_) => None,
    };
    let mut requests = 0;
    loop {
        // Fixed pollers keep to their grid (k × period after submit), so the time a request
        // takes does not stretch their period.
        let next = match (&mut schedule, poller) {
            (Some(s), _) => Instant::now() + s.next_delay(task.submitted.elapsed(), None),
            (None, Poller::Fixed(p)) => task.submitted + scaled(p) * (requests + 1),
            (None, Poller::Adaptive(_)) => unreachable!(),
        };
        tokio::time::sleep_until(next.into()).await;
        requests += 1;
        // A success seen by this request was there when it was sent.
        let sent = Instant::now();
        let reply: Value = http
            .get(format!("{}/v1/tasks/{}", ms.base_url(), task.id))
            .bearer_auth(ms.key())
            .header("X-ModelScope-Task-Type", "image_generation")
            .send()
            .await
            .expect("poll")
            .json()
            .await
            .expect("poll reply");
        if reply["task_status"] == "SUCCEED" {
            let latency = sent.saturating_duration_since(task.finishes);
            return (
                requests,
                latency.as_secs_f64() / SCALE,
                sent - task.submitted,
            );
        }
    }
}

/// The schedule the engine would use, scaled.
fn schedule(history: &[Duration], density: Option<u32>) -> PollSchedule {
    // Milliseconds, like the store's (0.05 s unscaled resolution at x1/50).
    let recent: Vec<i64> = history.iter().map(|d| d.as_millis() as i64).collect();
    let s = PollSchedule::from_history(&recent, scaled(TYPICAL_S))
        .with_bounds(scaled(FLOOR_S), scaled(CAP_S));
    match density {
        Some(n) => s.with_density(n),
        None => s,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ms = ModelScopeFake::start().await;
    ms.set_daily_limits(1_000_000, 1_000_000);
    let http = reqwest::Client::new();
    // The default schedule, a sparser one (fewer requests, later detection), the fixed ones.
    let pollers = [
        Poller::Adaptive(None),
        Poller::Adaptive(Some(10)),
        Poller::Fixed(2.0),
        Poller::Fixed(5.0),
    ];
    let mut stats: Vec<Stats> = pollers.iter().map(|_| Stats::default()).collect();
    let mut history: VecDeque<Duration> = VecDeque::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let started = Instant::now();

    for batch in 0..JOBS / BATCH {
        let runs: Vec<Duration> = (0..BATCH)
            .map(|_| scaled(MIN_S + (MAX_S - MIN_S) * rng.next_f64()))
            .collect();
        // Every job once per poller, so all pollers see exactly the same run times.
        let hist: Vec<Duration> = history.iter().copied().collect();
        let mut followers = Vec::new();
        for run in &runs {
            for (i, poller) in pollers.iter().enumerate() {
                let task = submit(&http, &ms, *run).await;
                let (http, ms, hist) = (&http, &ms, &hist);
                followers.push(async move { (i, follow(http, ms, task, *poller, hist).await) });
            }
        }
        for (i, (requests, latency, recorded)) in futures::future::join_all(followers).await {
            stats[i].requests.push(requests);
            stats[i].latency.push(latency);
            // The engine learns from its own jobs: those of the default schedule.
            if pollers[i] == Poller::Adaptive(None) {
                history.push_front(recorded);
                history.truncate(HISTORY);
            }
        }
        eprintln!("batch {}/{} done", batch + 1, JOBS / BATCH);
    }

    println!(
        "\npoll efficiency: {JOBS} jobs, run times uniform {MIN_S}-{MAX_S} s, time scaled x{SCALE}, \
         wall time {:.1} s\n",
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:<18} {:>13} {:>19} {:>18}",
        "poller", "requests/job", "mean latency (s)", "p90 latency (s)"
    );
    for (p, s) in pollers.iter().zip(&stats) {
        println!(
            "{:<18} {:>13.1} {:>19.2} {:>18.2}",
            p.label(),
            s.mean_requests(),
            s.mean_latency(),
            s.p90_latency()
        );
    }
    let (adaptive, fixed2) = (&stats[0], &stats[2]);
    let ratio = adaptive.mean_requests() / fixed2.mean_requests();
    println!(
        "\nadaptive / fixed 2 s: {:.2} of the requests, latency {:.2} s vs {:.2} s \
         (target: at most 0.33 of the requests at no worse latency: {})",
        ratio,
        adaptive.mean_latency(),
        fixed2.mean_latency(),
        if ratio <= 1.0 / 3.0 && adaptive.mean_latency() <= fixed2.mean_latency() {
            "met"
        } else {
            "not met"
        }
    );
}
