//! Poll efficiency: genq's adaptive `PollSchedule` against fixed 2 s and 5 s pollers.
//!
//! A poll only says "running" or "done". For run times uniform over a window W, mean
//! detection latency L times requests per job R is at least 2W/9 (polls with density
//! ∝ 1/√(time left in the window)); even spacing gives W/4.
//!
//! Part one simulates time, with the engine's own schedule, jitter and run-time estimate, for
//! many jobs: run times uniform over 20–60 s (W = 40 s, bound 8.9 s·requests) and log-normal
//! (median 30 s, σ = 0.4 of the log: 90 % within 15.5–57.9 s, 0.7 % past 80 s). The
//! adaptive poller learns the window from its own recent jobs, as the engine does, either from
//! its detection (the middle of the gap between the last poll that saw the task running and
//! the one that saw it done, as for ModelScope) or from the provider's finish time (as for
//! DashScope's `end_time`); the first batches, while its history fills, are not counted.
//! Limits: "window known" starts from an exact history of the uniform window and never
//! updates it (the schedule without the cost of learning); "optimal, known" polls the
//! log-normal run times with density ∝ √(hazard), the best trade-off for a distribution known
//! exactly.
//!
//! Part two follows real tasks over HTTP against the fake ModelScope, time scaled down by
//! `SCALE`, to check the simulation against real requests and timers (whose delays, × 1/SCALE,
//! add to every latency there).
//!
//! For each poller: requests per job (polls until the success was seen) and detection
//! latency (time from the task's real finish to the poll that saw it), in unscaled seconds.
//!
//! Run: `cargo bench -p genq-e2e --bench polling` (or `cargo test -p genq-e2e --bench
//! polling` for a debug build).

use genq_daemon::engine::poll::{PollSchedule, RECENT_RUNS, run_time_ms};
use genq_e2e::fakes::{ModelScopeFake, MsOutcome, MsScript};
use genq_protocol::Timestamp;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Simulated jobs per poller and distribution.
const SIM_JOBS: usize = 24_000;
/// Jobs followed at once; history grows between batches, as jobs finish.
const BATCH: usize = 12;
/// Batches not counted, while the adaptive poller's history fills.
const WARM_UP: usize = (RECENT_RUNS as usize).div_ceil(BATCH);
/// Uniform run times, in seconds.
const MIN_S: f64 = 20.0;
const MAX_S: f64 = 60.0;
/// Log-normal run times: median and σ of the log.
const MEDIAN_S: f64 = 30.0;
const SIGMA: f64 = 0.4;
/// What the engine uses before any history: ModelScope's typical duration.
const TYPICAL_S: f64 = 30.0;
/// Over HTTP: real seconds per simulated second, and jobs per poller.
const SCALE: f64 = 1.0 / 50.0;
const HTTP_JOBS: usize = 240;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Learning {
    /// From the polls: the middle of the gap in which the task ended.
    Detection,
    /// From the provider's own finish time: the exact run time.
    FinishTime,
    /// An exact history of the uniform window, never updated.
    Known,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Poller {
    /// genq's schedule, with its default density or this one.
    Adaptive(Learning, Option<u32>),
    Fixed(f64),
    /// Density c·√(hazard) for the known log-normal run times: the best trade-off any poller
    /// can make for them (λ ∝ 1/√(time left) is this for a uniform window).
    Optimal(f64),
}

impl Poller {
    fn label(self) -> String {
        let density = |n: Option<u32>| n.map(|n| format!(", N={n}")).unwrap_or_default();
        match self {
            Poller::Adaptive(Learning::Detection, n) => {
                format!("adaptive, from detection{}", density(n))
            }
            Poller::Adaptive(Learning::FinishTime, n) => {
                format!("adaptive, from finish time{}", density(n))
            }
            Poller::Adaptive(Learning::Known, n) => format!("adaptive, window known{}", density(n)),
            Poller::Fixed(s) => format!("fixed {s} s"),
            Poller::Optimal(c) => format!("optimal, known, c={c}"),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum RunTimes {
    Uniform,
    LogNormal,
}

impl RunTimes {
    fn label(self) -> String {
        match self {
            RunTimes::Uniform => format!("uniform {MIN_S}-{MAX_S} s"),
            RunTimes::LogNormal => format!("log-normal, median {MEDIAN_S} s, sigma {SIGMA}"),
        }
    }

    /// A run time in seconds.
    fn draw(self, rng: &mut Rng) -> f64 {
        match self {
            RunTimes::Uniform => MIN_S + (MAX_S - MIN_S) * rng.next_f64(),
            RunTimes::LogNormal => MEDIAN_S * (SIGMA * rng.normal()).exp(),
        }
    }

    /// L·R's lower bound, where there is one.
    fn bound(self) -> Option<f64> {
        match self {
            RunTimes::Uniform => Some(2.0 * (MAX_S - MIN_S) / 9.0),
            RunTimes::LogNormal => None,
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
    fn push(&mut self, requests: u32, latency: f64) {
        self.requests.push(requests);
        self.latency.push(latency);
    }

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

/// xorshift64*: the same run times on every run, no extra dependency.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.next_f64();
        let v = self.next_f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// What the engine learns from: the run times (ms) of the model's most recent jobs.
#[derive(Default)]
struct History(VecDeque<i64>);

impl History {
    fn known_uniform_window() -> History {
        History((MIN_S as i64..=MAX_S as i64).map(|s| s * 1000).collect())
    }

    /// The schedule the engine would build, with `cap` and `floor` scaled by `scale`.
    fn schedule(&self, density: Option<u32>, scale: f64) -> PollSchedule {
        let recent: Vec<i64> = self.0.iter().copied().collect();
        let s = PollSchedule::from_history(&recent, Duration::from_secs_f64(TYPICAL_S * scale))
            .with_bounds(
                Duration::from_secs_f64(0.5 * scale),
                Duration::from_secs_f64(15.0 * scale),
            );
        match density {
            Some(n) => s.with_density(n),
            None => s,
        }
    }

    fn learn(&mut self, ms: u64) {
        self.0.push_front(ms as i64);
        self.0.truncate(RECENT_RUNS as usize);
    }
}

fn ts(s: f64) -> Timestamp {
    Timestamp::from_unix_millis((s * 1000.0).round() as i64)
}

/// The run time (ms) the engine records for a task seen done at `done` s after its submit,
/// last seen running at `seen_running`, that really ran `ran` s.
fn recorded(
    learning: Learning,
    schedule: &PollSchedule,
    polls: (Option<f64>, f64),
    ran: f64,
) -> u64 {
    let (seen_running, done) = polls;
    match learning {
        Learning::FinishTime => {
            run_time_ms((Some(ts(0.0)), Some(ts(ran))), ts(0.0), (ts(0.0), ts(done)))
        }
        Learning::Detection | Learning::Known => {
            let until = schedule.running_until(ts(0.0), seen_running.map(ts), ts(done));
            run_time_ms((None, None), ts(0.0), (until, ts(done)))
        }
    }
}

/// Poll times (s) with density c·√(f/S) for the log-normal run times, f their density and
/// S the share still running, kept between the engine's floor and cap.
fn optimal_polls(c: f64) -> Vec<f64> {
    let dt = 0.001;
    let (mut t, mut done, mut owed, mut last) = (dt, 0.0, 0.0, 0.0);
    let mut polls = Vec::new();
    while t < 600.0 {
        let z = (t / MEDIAN_S).ln() / SIGMA;
        let density = (-z * z / 2.0).exp() / (t * SIGMA * std::f64::consts::TAU.sqrt());
        done += density * dt;
        owed += c * (density / (1.0 - done).max(1e-12)).sqrt() * dt;
        if (owed >= 1.0 && t - last >= 0.5) || t - last >= 15.0 {
            polls.push(t);
            (last, owed) = (t, 0.0);
        }
        t += dt;
    }
    polls
}

/// Follows one simulated task that runs `ran` s: (requests, latency s, recorded run time ms).
fn simulate(poller: Poller, history: &History, optimal: &[f64], ran: f64) -> (u32, f64, u64) {
    let mut requests = 0;
    let mut now = 0.0;
    let mut seen_running = None;
    match poller {
        Poller::Optimal(_) => {
            let seen = optimal
                .iter()
                .position(|t| *t >= ran)
                .unwrap_or(optimal.len() - 1);
            (seen as u32 + 1, optimal[seen] - ran, 0)
        }
        Poller::Fixed(period) => {
            while now < ran {
                requests += 1;
                now = period * f64::from(requests);
            }
            (requests, now - ran, 0)
        }
        Poller::Adaptive(learning, density) => {
            let mut schedule = history.schedule(density, 1.0);
            loop {
                now += schedule
                    .next_delay(Duration::from_secs_f64(now), None)
                    .as_secs_f64();
                requests += 1;
                if now >= ran {
                    let ms = recorded(learning, &schedule, (seen_running, now), ran);
                    return (requests, now - ran, ms);
                }
                seen_running = Some(now);
            }
        }
    }
}

fn simulated(runs: RunTimes, pollers: &[Poller]) -> Vec<Stats> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut stats: Vec<Stats> = pollers.iter().map(|_| Stats::default()).collect();
    let mut histories: Vec<History> = pollers
        .iter()
        .map(|p| match p {
            Poller::Adaptive(Learning::Known, _) => History::known_uniform_window(),
            _ => History::default(),
        })
        .collect();
    let optimal: Vec<Vec<f64>> = pollers
        .iter()
        .map(|p| match p {
            Poller::Optimal(c) => optimal_polls(*c),
            _ => Vec::new(),
        })
        .collect();
    for batch in 0..WARM_UP + SIM_JOBS / BATCH {
        let runs: Vec<f64> = (0..BATCH).map(|_| runs.draw(&mut rng)).collect();
        for (i, poller) in pollers.iter().enumerate() {
            let learned: Vec<u64> = runs
                .iter()
                .map(|ran| {
                    let (requests, latency, ms) =
                        simulate(*poller, &histories[i], &optimal[i], *ran);
                    if batch >= WARM_UP {
                        stats[i].push(requests, latency);
                    }
                    ms
                })
                .collect();
            if matches!(
                poller,
                Poller::Adaptive(Learning::Detection | Learning::FinishTime, _)
            ) {
                learned.into_iter().for_each(|ms| histories[i].learn(ms));
            }
        }
    }
    stats
}

fn print_table(title: &str, runs: RunTimes, pollers: &[Poller], stats: &[Stats]) {
    println!("\n{title}: run times {}", runs.label());
    print!(
        "{:<34} {:>12} {:>13} {:>12} {:>10}",
        "poller", "requests/job", "mean lat (s)", "p90 lat (s)", "L*R"
    );
    match runs.bound() {
        Some(b) => println!(" {:>14}", format!("L*R / {b:.2}")),
        None => println!(),
    }
    for (p, s) in pollers.iter().zip(stats) {
        let lr = s.mean_latency() * s.mean_requests();
        print!(
            "{:<34} {:>12.2} {:>13.2} {:>12.2} {:>10.2}",
            p.label(),
            s.mean_requests(),
            s.mean_latency(),
            s.p90_latency(),
            lr
        );
        match runs.bound() {
            Some(b) => println!(" {:>14.3}", lr / b),
            None => println!(),
        }
    }
}

fn scaled(simulated_s: f64) -> Duration {
    Duration::from_secs_f64(simulated_s * SCALE)
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

/// Follows one task to its success over HTTP; returns (requests, unscaled latency in seconds,
/// run time in scaled ms as the engine would record it).
async fn follow(
    http: &reqwest::Client,
    ms: &ModelScopeFake,
    task: Task,
    poller: Poller,
    history: &History,
) -> (u32, f64, u64) {
    let mut schedule = match poller {
        Poller::Adaptive(_, density) => Some(history.schedule(density, SCALE)),
        Poller::Fixed(_) | Poller::Optimal(_) => None,
    };
    let mut requests = 0;
    let mut seen_running = None;
    loop {
        // Fixed pollers keep to their grid (k × period after submit); the adaptive one, like
        // the engine, spaces each poll from when the last was sent. Either way the time a
        // request takes does not stretch the schedule.
        let next = match (&mut schedule, poller) {
            (Some(s), _) => {
                let sent = seen_running.map(Duration::from_secs_f64);
                Instant::now() + s.wait_from(sent, task.submitted.elapsed(), None)
            }
            (None, Poller::Fixed(p)) => task.submitted + scaled(p) * (requests + 1),
            (None, Poller::Adaptive(..) | Poller::Optimal(_)) => {
                unreachable!("only adaptive and fixed pollers run over HTTP")
            }
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
        let at = (sent - task.submitted).as_secs_f64();
        if reply["task_status"] == "SUCCEED" {
            let latency = sent.saturating_duration_since(task.finishes);
            let ms = schedule.map_or(0, |s| {
                recorded(Learning::Detection, &s, (seen_running, at), 0.0)
            });
            return (requests, latency.as_secs_f64() / SCALE, ms);
        }
        seen_running = Some(at);
    }
}

/// The adaptive poller (learning from detection) and the fixed ones over real HTTP.
async fn over_http(pollers: &[Poller]) -> Vec<Stats> {
    let ms = ModelScopeFake::start().await;
    ms.set_daily_limits(1_000_000, 1_000_000);
    let http = reqwest::Client::new();
    let mut stats: Vec<Stats> = pollers.iter().map(|_| Stats::default()).collect();
    let mut history = History::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for batch in 0..WARM_UP + HTTP_JOBS / BATCH {
        let runs: Vec<Duration> = (0..BATCH)
            .map(|_| scaled(RunTimes::Uniform.draw(&mut rng)))
            .collect();
        // Every job once per poller, so all pollers see exactly the same run times.
        let mut followers = Vec::new();
        for run in &runs {
            for (i, poller) in pollers.iter().enumerate() {
                let task = submit(&http, &ms, *run).await;
                let (http, ms, history) = (&http, &ms, &history);
                followers.push(async move { (i, follow(http, ms, task, *poller, history).await) });
            }
        }
        for (i, (requests, latency, recorded)) in futures::future::join_all(followers).await {
            if batch >= WARM_UP {
                stats[i].push(requests, latency);
            }
            if matches!(pollers[i], Poller::Adaptive(..)) {
                history.learn(recorded);
            }
        }
        eprintln!(
            "over HTTP: batch {}/{} done",
            batch + 1,
            WARM_UP + HTTP_JOBS / BATCH
        );
    }
    stats
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    let common = [
        Poller::Adaptive(Learning::Detection, None),
        Poller::Adaptive(Learning::FinishTime, None),
        Poller::Adaptive(Learning::Detection, Some(16)),
        Poller::Adaptive(Learning::Detection, Some(32)),
        Poller::Fixed(2.0),
        Poller::Fixed(5.0),
    ];
    let limits = [
        (
            RunTimes::Uniform,
            vec![Poller::Adaptive(Learning::Known, None)],
        ),
        (
            RunTimes::LogNormal,
            vec![Poller::Optimal(1.0), Poller::Optimal(2.0)],
        ),
    ];
    for (runs, limit) in limits {
        let pollers: Vec<Poller> = common.iter().copied().chain(limit).collect();
        let stats = simulated(runs, &pollers);
        let title = format!("simulated, {SIM_JOBS} jobs");
        print_table(&title, runs, &pollers, &stats);
    }
    let pollers = [
        Poller::Adaptive(Learning::Detection, None),
        Poller::Fixed(2.0),
        Poller::Fixed(5.0),
    ];
    let stats = over_http(&pollers).await;
    print_table(
        &format!("over HTTP against the fake ModelScope, {HTTP_JOBS} jobs, time x{SCALE}"),
        RunTimes::Uniform,
        &pollers,
        &stats,
    );
    println!("\nwall time {:.1} s", started.elapsed().as_secs_f64());
}
