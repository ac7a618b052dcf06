//! The TUI against a real daemon holding 1,000,000 jobs: time from connect to the first frame
//! (connect + hello + the first `jobs.list` page + `daemon.status` + `providers.list` +
//! `subscribe` + draw), frame render time, and the memory the TUI holds. Uses the TUI's own
//! `App::update` and `draw` on a 100×30 `TestBackend`. Prints figures against the targets
//! (first frame ≤ 10 ms, render ≤ 2 ms).
//!
//! `cargo bench -p genq-e2e --bench tui` (`GENQ_BENCH_JOBS=100000` for fewer jobs)

mod shared;

use genq::client::Client;
use genq::tui::action::{Action, UiAction};
use genq::tui::command::Command;
use genq::tui::{App, draw};
use genq_e2e::harness::{Home, genq_bin};
use genq_protocol::Timestamp;
use genq_protocol::methods::{DaemonStatus, JobsList, ProvidersList, Subscribe, SubscribeParams};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

/// Counts live heap bytes, so the TUI's own footprint can be told apart.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Jobs in the database: `GENQ_BENCH_JOBS`, else 1,000,000.
fn jobs() -> u32 {
    std::env::var("GENQ_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}
const SIZE: (u16, u16) = (100, 30);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the commands the app asked for, as the event loop would (all at once), feeding the
/// replies back. Only the ones the first frame depends on are served.
async fn serve(app: &mut App, client: &Client, cmds: Vec<Command>) {
    let mut page = None;
    let mut status = false;
    let mut subscribe = None;
    for cmd in cmds {
        match cmd {
            Command::FetchPage { generation, params } => page = Some((generation, params)),
            Command::FetchStatus => status = true,
            Command::Subscribe { since_seq } => subscribe = Some(since_seq),
            _ => {}
        }
    }
    let list = async {
        match page {
            Some((generation, params)) => {
                let offset = params.offset.unwrap_or(0);
                let page = client.call::<JobsList>(params).await.expect("jobs.list");
                Some(Action::PageLoaded {
                    generation,
                    offset,
                    page,
                })
            }
            None => None,
        }
    };
    let stat = async {
        if !status {
            return Vec::new();
        }
        let (s, p) = tokio::join!(
            client.call::<DaemonStatus>(Default::default()),
            client.call::<ProvidersList>(Default::default())
        );
        vec![
            Action::StatusLoaded(s.expect("daemon.status")),
            Action::ProvidersLoaded(p.expect("providers.list")),
        ]
    };
    let sub = async {
        match subscribe {
            Some(since_seq) => {
                let r = client
                    .call::<Subscribe>(SubscribeParams { since_seq })
                    .await
                    .expect("subscribe");
                Some(Action::Subscribed {
                    head_seq: r.head_seq,
                })
            }
            None => None,
        }
    };
    let (list, stat, sub) = tokio::join!(list, stat, sub);
    for action in list.into_iter().chain(stat).chain(sub) {
        app.update(action);
    }
}

/// Connect → hello → first page + status + subscribe → first frame. Returns the time, the
/// loaded app and its terminal.
async fn first_frame(home: &Home) -> (Duration, App, Terminal<TestBackend>, Client) {
    let start = Instant::now();
    let (client, _notes) = Client::connect(&home.paths, "genq-tui-bench")
        .await
        .expect("connect");
    let mut app = App::new(SIZE, Timestamp::now());
    let cmds = app.update(Action::Connected {
        version: client.daemon.version.clone(),
    });
    serve(&mut app, &client, cmds).await;
    let mut term = Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).expect("test backend");
    term.draw(|f| draw(f, &app)).expect("draw");
    let took = start.elapsed();
    assert_eq!(
        app.jobs.total,
        u64::from(jobs()),
        "the daemon lists all jobs"
    );
    assert!(!app.jobs.rows.is_empty(), "the first page is on screen");
    (took, app, term, client)
}

fn start(home: &Home) {
    home.start_daemon_with(&[("BENCH_KEY", "sk-bench")]);
}

/// `n` connects to the first frame, their times sorted.
async fn first_frames(home: &Home, n: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let (t, ..) = first_frame(home).await;
        times.push(t);
    }
    times.sort();
    times
}

#[tokio::main]
async fn main() {
    let _ = genq_bin();
    // Finished history, as a long-used install has.
    let home = shared::home_with_finished_jobs(
        jobs(),
        "UPDATE jobs SET state = CASE WHEN rowid % 10 = 0 THEN 'failed' ELSE 'succeeded' END, \
         finished_at = created_at + 20000, updated_at = created_at + 20000",
        start,
    )
    .await;

    let rss_before = rss_kib();
    let heap_before = LIVE.load(Ordering::Relaxed);
    let (cold, mut app, mut term, client) = first_frame(&home).await;
    let heap_first = LIVE.load(Ordering::Relaxed) - heap_before;

    let firsts = first_frames(&home, 30).await;
    println!(
        "connect to first frame ({} jobs, {}x{}): first {}  p50 {}  p99 {}  (target ≤ 10 ms)",
        jobs(),
        SIZE.0,
        SIZE.1,
        ms(cold),
        ms(percentile(&firsts, 0.5)),
        ms(percentile(&firsts, 0.99)),
    );
    // The figures above are taken while the daemon renders, in the background, the listing
    // text of every job just imported (as after an upgrade); these once it has.
    let rendering = Instant::now();
    let db = rusqlite::Connection::open(&home.paths.db).expect("open the database");
    while db
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM job_wire WHERE text IS NULL)",
            [],
            |r| r.get::<_, bool>(0),
        )
        .expect("read the database")
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(db);
    let rendered_in = rendering.elapsed();
    let settled = first_frames(&home, 30).await;
    println!(
        "connect to first frame once every listing text is rendered (another {:.1} s after the \
         above): p50 {}  p99 {}",
        rendered_in.as_secs_f64(),
        ms(percentile(&settled, 0.5)),
        ms(percentile(&settled, 0.99)),
    );

    // Steady state: a key moves the selection, the spinner ticks, the frame is redrawn.
    let frames = 3000;
    let mut times = Vec::with_capacity(frames);
    // Fifty rows down, fifty back up: the window scrolls, so pages are fetched (untimed).
    for i in 0..frames {
        let ui = if (i / 50).is_multiple_of(2) {
            UiAction::Down
        } else {
            UiAction::Up
        };
        let cmds = app.update(Action::Ui(ui));
        serve(&mut app, &client, cmds).await;
        app.update(Action::Tick);
        let t = Instant::now();
        term.draw(|f| draw(f, &app)).expect("draw");
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "frame render ({frames} frames, jobs screen {}x{}): p50 {}  p99 {}  max {}  (target ≤ 2 ms)",
        SIZE.0,
        SIZE.1,
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(percentile(&times, 1.0)),
    );

    let heap_now = LIVE.load(Ordering::Relaxed) - heap_before;
    println!(
        "TUI memory: heap after the first frame {:.1} KiB (app, terminal buffers, client), \
         after {frames} frames {:.1} KiB; process RSS growth {} KiB",
        heap_first as f64 / 1024.0,
        heap_now as f64 / 1024.0,
        match (rss_before, rss_kib()) {
            (Some(a), Some(b)) => b.saturating_sub(a).to_string(),
            _ => "unknown".into(),
        }
    );
    drop((app, term, client));

    let mut c = home.client().await;
    c.ok("daemon.shutdown", serde_json::json!({})).await;
}
