//! Remote use over `--host`, against a real OpenSSH server on loopback; figures printed, not
//! asserted:
//! - `daemon.status` round trip p50/p99 on an open connection: local socket, ssh on
//!   loopback, and ssh through a relay adding 100 ms each way;
//! - the TUI's first frame (connect + hello + first `jobs.list` page + `daemon.status` +
//!   `providers.list` + `subscribe` + draw, as `benches/tui.rs` measures it) the same three ways;
//! - what a keypress costs at 100 ms each way: cursor moves driven through the TUI's own
//!   `App::update` and `draw`, with the commands it returns run the way the TUI's runner runs
//!   them (each protocol call on a spawned task whose reply comes back later as an action);
//!   a key's frame is timed from the key to the drawn frame, and whether the cursor had
//!   already moved in it, and whether the row under it was already loaded, is counted;
//! - `genq pull` of a ~50 MB output over `--host` on loopback against `scp` of the same file
//!   through the same sshd.
//!
//! Without OpenSSH's server or client it says so and prints nothing else.
//!
//! `cargo bench -p genq-e2e --bench remote`

mod shared;

use genq::client::{Client, Endpoint, SshHost};
use genq::tui::action::{Action, UiAction};
use genq::tui::command::Command;
use genq::tui::{App, draw};
use genq_e2e::fakes::ModelScopeFake;
use genq_e2e::harness::{DelayProxy, Home, Sshd, genq_bin, set_mode, stderr};
use genq_protocol::Timestamp;
use genq_protocol::methods::{
    DaemonStatus, Empty, JobsEvents, JobsGet, JobsList, ProvidersList, Subscribe, SubscribeParams,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const JOBS: u32 = 1_000;
const SIZE: (u16, u16) = (100, 30);
const ONE_WAY: Duration = Duration::from_millis(100);
/// Keys pressed per second while the cursor is moved: a held arrow key's repeat rate.
const KEY_EVERY: Duration = Duration::from_millis(33);
const KEYS: usize = 150;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn spread(mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!(
        "p50 {}  p99 {}  max {}  (n={})",
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.99)),
        ms(percentile(&samples, 1.0)),
        samples.len()
    )
}

/// The commands an app asked for, run as the TUI's runner runs them: each protocol call on
/// a task of its own, its reply sent back as an action; nothing here waits for a reply.
struct Runner {
    client: Client,
    /// Each reply with the time it took to arrive.
    tx: mpsc::UnboundedSender<(Duration, Vec<Action>)>,
    rx: mpsc::UnboundedReceiver<(Duration, Vec<Action>)>,
    in_flight: usize,
    issued: BTreeMap<&'static str, usize>,
    reply_times: Vec<Duration>,
}

impl Runner {
    fn new(client: Client) -> Runner {
        let (tx, rx) = mpsc::unbounded_channel();
        Runner {
            client,
            tx,
            rx,
            in_flight: 0,
            issued: BTreeMap::new(),
            reply_times: Vec::new(),
        }
    }

    fn run(&mut self, cmds: Vec<Command>) {
        for cmd in cmds {
            let (kind, call) = self.call_for(cmd);
            *self.issued.entry(kind).or_default() += 1;
            if let Some(call) = call {
                let tx = self.tx.clone();
                let sent = Instant::now();
                self.in_flight += 1;
                tokio::spawn(async move {
                    let actions = call.await;
                    let _ = tx.send((sent.elapsed(), actions));
                });
            }
        }
    }

    /// The call a command makes, for the commands the jobs screen issues; others are only
    /// counted.
    fn call_for(
        &self,
        cmd: Command,
    ) -> (
        &'static str,
        Option<futures::future::BoxFuture<'static, Vec<Action>>>,
    ) {
        let c = self.client.clone();
        match cmd {
            Command::FetchPage { generation, params } => ("jobs.list", {
                let offset = params.offset.unwrap_or(0);
                Some(Box::pin(async move {
                    let page = c.call::<JobsList>(params).await.expect("jobs.list");
                    vec![Action::PageLoaded {
                        generation,
                        offset,
                        page,
                    }]
                }))
            }),
            Command::FetchStatus => (
                "daemon.status + providers.list",
                Some(Box::pin(async move {
                    let (s, p) = tokio::join!(
                        c.call::<DaemonStatus>(Empty {}),
                        c.call::<ProvidersList>(Empty {})
                    );
                    vec![
                        Action::StatusLoaded(s.expect("daemon.status")),
                        Action::ProvidersLoaded(p.expect("providers.list")),
                    ]
                })),
            ),
            Command::Subscribe { since_seq } => (
                "subscribe",
                Some(Box::pin(async move {
                    let r = c
                        .call::<Subscribe>(SubscribeParams { since_seq })
                        .await
                        .expect("subscribe");
                    vec![Action::Subscribed {
                        head_seq: r.head_seq,
                    }]
                })),
            ),
            Command::FetchJob(id) => (
                "jobs.get",
                Some(Box::pin(async move {
                    vec![Action::JobLoaded(
                        c.call::<JobsGet>((&id).into()).await.expect("jobs.get"),
                    )]
                })),
            ),
            Command::FetchEvents(id) => (
                "jobs.events",
                Some(Box::pin(async move {
                    let events = c
                        .call::<JobsEvents>((&id).into())
                        .await
                        .expect("jobs.events");
                    vec![Action::EventsLoaded { id, events }]
                })),
            ),
            _ => ("other (not run)", None),
        }
    }

    /// Feeds the replies that have arrived to the app, without waiting for any.
    fn take_arrived(&mut self, app: &mut App) {
        while let Ok((took, actions)) = self.rx.try_recv() {
            self.arrived(app, took, actions);
        }
    }

    /// Waits for every reply still on its way and feeds it to the app.
    async fn settle(&mut self, app: &mut App) {
        while self.in_flight > 0 {
            let Some((took, actions)) = self.rx.recv().await else {
                return;
            };
            self.arrived(app, took, actions);
        }
    }

    fn arrived(&mut self, app: &mut App, took: Duration, actions: Vec<Action>) {
        self.in_flight -= 1;
        self.reply_times.push(took);
        // Follow-up commands (a reply asking for more) are not run: the figures are about
        // what a key costs, not about what a reply leads to.
        for action in actions {
            let _ = app.update(action);
        }
    }
}

/// Connect → hello → first page + status + subscribe → first frame.
async fn first_frame(endpoint: &Endpoint) -> (Duration, Duration, App, Runner) {
    let start = Instant::now();
    let (client, _notes) = endpoint
        .connect("genq-tui-bench", false)
        .await
        .expect("connect");
    let connected = start.elapsed();
    let mut app = App::new(SIZE, Timestamp::now());
    let cmds = app.update(Action::Connected {
        version: client.daemon.version.clone(),
    });
    let mut runner = Runner::new(client);
    runner.run(cmds);
    runner.settle(&mut app).await;
    let mut term = Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).expect("test backend");
    term.draw(|f| draw(f, &app)).expect("draw");
    let took = start.elapsed();
    assert_eq!(app.jobs.total, u64::from(JOBS), "the daemon lists all jobs");
    assert!(!app.jobs.rows.is_empty(), "the first page is on screen");
    (took, connected, app, runner)
}

/// A home whose daemon holds `JOBS` finished jobs, imported with it stopped.
async fn home_with_jobs() -> Home {
    shared::home_with_finished_jobs(
        JOBS,
        "UPDATE jobs SET state = 'succeeded', finished_at = created_at + 20000, \
         updated_at = created_at + 20000",
        Home::start_daemon,
    )
    .await
}

async fn round_trips(name: &str, endpoint: &Endpoint, n: usize) {
    let t = Instant::now();
    let (client, _notes) = endpoint.connect("bench", false).await.expect("connect");
    let connect = t.elapsed();
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        client.call::<DaemonStatus>(Empty {}).await.expect("status");
        samples.push(t.elapsed());
    }
    println!(
        "daemon.status round trip, {name}: {}  (connect + hello {})",
        spread(samples),
        ms(connect)
    );
}

async fn first_frames(name: &str, endpoint: &Endpoint, n: usize) {
    let mut total = Vec::with_capacity(n);
    let mut connects = Vec::with_capacity(n);
    for _ in 0..n {
        let (took, connected, ..) = first_frame(endpoint).await;
        total.push(took);
        connects.push(connected);
    }
    println!(
        "TUI first frame ({JOBS} jobs, {}x{}), {name}: {}\n    of which connect + hello: {}",
        SIZE.0,
        SIZE.1,
        spread(total),
        spread(connects)
    );
}

/// Holds the down arrow for `KEYS` presses, then the up arrow as long, at `KEY_EVERY`.
async fn keypresses(name: &str, endpoint: &Endpoint) {
    let (_, _, mut app, mut runner) = first_frame(endpoint).await;
    runner.issued.clear();
    runner.reply_times.clear();
    let mut term = Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).expect("test backend");
    let mut frames = Vec::with_capacity(2 * KEYS);
    let mut moved = 0;
    let mut row_there = 0;
    let mut peak_in_flight = 0;
    let mut tick = tokio::time::interval(KEY_EVERY);
    for i in 0..2 * KEYS {
        tick.tick().await;
        let (key, step) = if i < KEYS {
            (UiAction::Down, 1i64)
        } else {
            (UiAction::Up, -1)
        };
        let before = app.jobs.selected;
        let t = Instant::now();
        let cmds = app.update(Action::Ui(key));
        runner.run(cmds);
        runner.take_arrived(&mut app);
        term.draw(|f| draw(f, &app)).expect("draw");
        frames.push(t.elapsed());
        if app.jobs.selected as i64 == before as i64 + step {
            moved += 1;
        }
        if app.jobs.selected_job().is_some() {
            row_there += 1;
        }
        peak_in_flight = peak_in_flight.max(runner.in_flight);
    }
    let settle = Instant::now();
    runner.settle(&mut app).await;
    let keys = 2 * KEYS;
    println!(
        "keypress at {name} ({keys} cursor moves, one every {}):\n    key → frame drawn: {}\n    \
         frames in which the cursor had already moved: {moved}/{keys}\n    \
         frames in which the selected row's job was already loaded: {row_there}/{keys}\n    \
         calls issued: {:?}\n    \
         calls in flight at most: {peak_in_flight}; their replies took {}\n    \
         last reply arrived {} after the last key",
        ms(KEY_EVERY),
        spread(frames),
        runner.issued,
        if runner.reply_times.is_empty() {
            "(none)".to_string()
        } else {
            spread(runner.reply_times.clone())
        },
        ms(settle.elapsed()),
    );
}

/// A ~50 MB PNG of noise (so compression cannot shrink it, on the wire or on disk).
fn big_png() -> Vec<u8> {
    use image::ImageEncoder;
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    const SIDE: u32 = 4096;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let pixels: Vec<u8> = (0..SIDE as usize * SIDE as usize * 3)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut png = Vec::new();
    PngEncoder::new_with_quality(&mut png, CompressionType::Fast, FilterType::NoFilter)
        .write_image(&pixels, SIDE, SIDE, image::ExtendedColorType::Rgb8)
        .expect("encode the png");
    png
}

fn mib_per_s(bytes: u64, took: Duration) -> String {
    format!(
        "{:.1} MiB/s",
        bytes as f64 / 1_048_576.0 / took.as_secs_f64()
    )
}

async fn pull_against_scp(sshd: &Sshd, ssh: &Path) {
    let ms_fake = ModelScopeFake::start().await;
    ms_fake.set_output_png(Some(big_png().into()));
    let remote = Home::with_modelscope(&ms_fake, "typical_s = 0.2\n");
    let id = remote.submit("modelscope", "fifty megabytes").await;
    let job = remote.finished(&id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let path = job["outputs"][0]["path"]
        .as_str()
        .expect("an output path")
        .to_string();
    let size = std::fs::metadata(&path).expect("the output").len();
    let mut laptop = Home::with_config(&format!(
        "[hosts.box]\nurl = {:?}\ngenq = {:?}\n",
        sshd.url(),
        remote.command_line()
    ));
    laptop.env("GENQ_SSH_COMMAND", &ssh.display().to_string());
    let user_host = sshd
        .url()
        .trim_start_matches("ssh://")
        .rsplit_once(':')
        .map(|(uh, _)| uh.to_string())
        .expect("user@host:port");
    let mut pulls = Vec::new();
    let mut scps = Vec::new();
    let mut sessions = Vec::new();
    for run in 0..3 {
        // A session that runs nothing: the setup both copies below pay once.
        let t = Instant::now();
        let out = tokio::process::Command::new(ssh)
            .args(["-p", &sshd.port.to_string(), &user_host, "true"])
            .output()
            .await
            .expect("run ssh");
        sessions.push(t.elapsed());
        assert!(out.status.success(), "ssh: {}", stderr(&out));

        let to = laptop.dir.path().join(format!("pull{run}"));
        let to = to.display().to_string();
        let t = Instant::now();
        let out = laptop
            .run_async(&["--host", "box", "pull", &id, "--to", &to])
            .await;
        pulls.push(t.elapsed());
        assert!(out.status.success(), "pull: {}", stderr(&out));

        let to = laptop.dir.path().join(format!("scp{run}.png"));
        let t = Instant::now();
        let out = tokio::process::Command::new("scp")
            // The classic protocol: the fixture's sshd runs no sftp subsystem.
            .args(["-q", "-O", "-S"])
            .arg(ssh)
            .args(["-P", &sshd.port.to_string()])
            .arg(format!("{user_host}:{path}"))
            .arg(&to)
            .output()
            .await
            .expect("run scp");
        scps.push(t.elapsed());
        assert!(out.status.success(), "scp: {}", stderr(&out));
        assert_eq!(std::fs::metadata(&to).expect("scp's copy").len(), size);
    }
    let best = |v: &[Duration]| v.iter().min().copied().unwrap_or_default();
    println!(
        "copy of one {size}-byte output over ssh on loopback (3 runs each, whole command):\n    \
         genq --host pull: {:?} → best {}\n    scp:              {:?} → best {}\n    \
         ssh HOST true (session setup alone): {:?}",
        pulls.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
        mib_per_s(size, best(&pulls)),
        scps.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
        mib_per_s(size, best(&scps)),
        sessions.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
    );
}

/// An ssh that trusts the fixture's host key whichever port it is reached on, so the same
/// command goes straight to sshd or through the delaying relay.
fn ssh_wrapper(dir: &Path, sshd: &Sshd) -> PathBuf {
    let script = dir.join("ssh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec {} '-oHostKeyAlias=[127.0.0.1]:{}' \"$@\"\n",
            sshd.ssh_command(),
            sshd.port
        ),
    )
    .expect("ssh wrapper");
    set_mode(&script, 0o755);
    script
}

async fn bench(sshd: &Sshd, ssh: &Path) {
    let remote = home_with_jobs().await;
    let proxy = DelayProxy::start(sshd.port, ONE_WAY).await;
    let slow_url = sshd
        .url()
        .replace(&format!(":{}", sshd.port), &format!(":{}", proxy.port));
    let ssh_host =
        |url: &str| Endpoint::Ssh(SshHost::parse(url, Some(remote.command_line())).expect("url"));
    let local = Endpoint::Local(remote.paths.clone().into());
    let fast = ssh_host(&sshd.url());
    let slow = ssh_host(&slow_url);
    let slow_name = format!("ssh +{} each way", ms(ONE_WAY));

    round_trips("local", &local, 1000).await;
    round_trips("ssh loopback", &fast, 1000).await;
    round_trips(&slow_name, &slow, 50).await;

    first_frames("local", &local, 30).await;
    first_frames("ssh loopback", &fast, 30).await;
    first_frames(&slow_name, &slow, 5).await;

    keypresses("local", &local).await;
    keypresses(&slow_name, &slow).await;

    pull_against_scp(sshd, ssh).await;

    let mut c = remote.client().await;
    c.ok("daemon.shutdown", serde_json::json!({})).await;
}

fn main() {
    let _ = genq_bin();
    let Some(sshd) = Sshd::start() else {
        println!("remote bench skipped: OpenSSH's server or client is not installed");
        return;
    };
    let tools = tempfile::tempdir().expect("temp dir");
    let ssh = ssh_wrapper(tools.path(), &sshd);
    // SAFETY: set before the runtime starts any thread; nothing else runs yet.
    unsafe { std::env::set_var("GENQ_SSH_COMMAND", &ssh) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(bench(&sshd, &ssh));
}
