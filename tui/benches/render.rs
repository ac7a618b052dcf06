//! Render cost of the jobs screen: time per frame with a full page of jobs on a
//! `TestBackend`, the time from a decoded `jobs.list` reply to the first frame, and the
//! memory the app holds. Prints figures; run with `cargo bench -p genq --bench render`.

use genq::tui::action::{Action, UiAction};
use genq::tui::{App, draw};
use genq_protocol::methods::JobPage;
use genq_protocol::{Job, JobId, JobKind, JobSpec, JobState, Timestamp};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

/// Counts live heap bytes, so the app's own footprint can be measured.
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

const T0: i64 = 1_763_790_240_000;

fn job(n: u64) -> Job {
    let states = [
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Queued,
        JobState::Succeeded,
    ];
    let state = states[n as usize % states.len()];
    let created = Timestamp::from_unix_millis(T0 + n as i64 * 1000);
    Job {
        id: JobId(format!("019a{n:04x}-7c1e-7000-8000-{n:012x}")),
        num: Some(n),
        kind: JobKind::Image,
        provider: "modelscope".into(),
        model: Some("Qwen/Qwen-Image".into()),
        state,
        progress: (state == JobState::Running).then_some((n % 100) as u8),
        params: JobSpec {
            provider: "modelscope".into(),
            prompt: format!(
                "job {n}: a lighthouse on a cliff at dusk, volumetric fog, 35mm film, \
                 highly detailed, soft light"
            ),
            ..JobSpec::default()
        },
        remote_id: Some(format!("task-{n}")),
        created_at: created,
        updated_at: created,
        finished_at: state.is_final().then_some(created),
        retry_of: None,
        error: None,
        outputs: Vec::new(),
        times: BTreeMap::new(),
        idempotency_key: None,
        generation_ms: None,
        provider_requests: Vec::new(),
    }
}

fn loaded_app(size: (u16, u16), page_json: &str) -> App {
    let mut app = App::new(size, Timestamp::from_unix_millis(T0 + 200_000_000));
    app.update(Action::Connected {
        version: "bench".into(),
    });
    let page: JobPage = serde_json::from_str(page_json).expect("page decodes");
    let generation = app.jobs.generation;
    app.update(Action::PageLoaded {
        generation,
        offset: 0,
        page,
    });
    app
}

fn page_json(rows: usize, total: u64) -> String {
    let page = JobPage {
        jobs: (0..rows as u64).rev().map(job).collect(),
        next_cursor: None,
        total,
    };
    serde_json::to_string(&page).expect("page encodes")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn main() {
    const TOTAL: u64 = 100_000;
    for (w, h) in [(100u16, 30u16), (60, 15), (200, 60)] {
        let rows = genq::tui::screens::jobs::visible_rows(h);
        let json = page_json(rows, TOTAL);

        // Reply decoded → state updated → first frame drawn.
        let start = Instant::now();
        let before = LIVE.load(Ordering::Relaxed);
        let mut app = loaded_app((w, h), &json);
        let app_bytes = LIVE.load(Ordering::Relaxed) - before;
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("test backend");
        term.draw(|f| draw(f, &app)).expect("draw");
        let first = start.elapsed();

        // Steady state: move the selection and redraw, as a key press would.
        let frames = 2000;
        let mut times = Vec::with_capacity(frames);
        for i in 0..frames {
            let ui = if i % 2 == 0 {
                UiAction::Down
            } else {
                UiAction::Up
            };
            app.update(Action::Ui(ui));
            app.update(Action::Tick);
            let t = Instant::now();
            term.draw(|f| draw(f, &app)).expect("draw");
            times.push(t.elapsed());
        }
        times.sort();
        let mean = times.iter().sum::<Duration>() / frames as u32;
        println!(
            "jobs screen {w}x{h} ({rows} rows of {TOTAL}): first frame {:.3} ms (decode + update + draw), \
             render mean {:.3} ms, p50 {:.3} ms, p99 {:.3} ms, app heap {:.1} KiB",
            first.as_secs_f64() * 1e3,
            mean.as_secs_f64() * 1e3,
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3,
            app_bytes as f64 / 1024.0,
        );
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(rss) = status.lines().find(|l| l.starts_with("VmHWM"))
    {
        println!(
            "process peak RSS: {}",
            rss.trim_start_matches("VmHWM:").trim()
        );
    }
}
