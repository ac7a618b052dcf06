//! The event loop: terminal events, daemon notifications and replies of spawned protocol
//! calls all become actions; state is updated, commands are handed to the runner, and the
//! screen is redrawn once per batch (in a synchronized update) only when something changed.
//! A timer runs only while something on screen moves; live-event refetches are debounced.

use crate::client::{Client, Endpoint};
use crate::tui::action::{Action, UiAction};
use crate::tui::app::App;
use crate::tui::frame;
use crate::tui::keymap::Keymap;
use crate::tui::preview::PreviewMode;
use crate::tui::runner::Io;
use crate::tui::terminal::{self, Tui};
use crossterm::event::{
    Event as TermEvent, EventStream, KeyEventKind, MouseButton, MouseEventKind,
};
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use crossterm::{execute, queue};
use futures::StreamExt;
use genq_protocol::rpc::Notification;
use genq_protocol::{Paths, Timestamp};
use ratatui_image::picker::Picker;
use std::path::PathBuf;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// Spinner and clock step while something runs.
const TICK: Duration = Duration::from_millis(120);
/// How long live events are gathered before the rows they touched are refetched.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Runs the TUI until the user quits. Connects to the daemon first (starting it when
/// `autostart` allows), so a daemon that cannot start is reported on the plain terminal.
/// `paths` is this machine's layout (its config holds the key overrides).
pub async fn run(endpoint: Endpoint, paths: Paths, autostart: bool) -> anyhow::Result<()> {
    let (client, notes) = endpoint.connect("genq-tui", autostart).await?;
    let key_errors = load_key_overrides(&paths).await;
    terminal::install_panic_hook();
    let mut term = terminal::init()?;
    // The terminal query reads stdin, so it runs before the event stream starts.
    let picker = PreviewMode::from_env().picker();
    let cache = paths.cache.clone();
    let result = event_loop(
        &mut term, endpoint, cache, client, notes, picker, key_errors,
    )
    .await;
    let restored = terminal::restore();
    result?;
    restored?;
    Ok(())
}

async fn event_loop(
    term: &mut Tui,
    endpoint: Endpoint,
    cache: PathBuf,
    client: Client,
    notes: mpsc::Receiver<Notification>,
    picker: Option<Picker>,
    (keymap, key_error): (Keymap, Option<String>),
) -> anyhow::Result<()> {
    let size = term.size()?;
    let mut app = App::new((size.width, size.height), Timestamp::now());
    app.shared.previews = picker.is_some();
    app.shared.keymap = keymap;
    app.shared.last_error = key_error;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let version = client.daemon.version.clone();
    let mut io = Io::new(endpoint, cache, client, notes, tx, picker);
    let cmds = app.update(Action::Connected { version });
    io.run_all(cmds, term, &mut app)?;

    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut debounce: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    let mut dirty = true;
    loop {
        if app.quit {
            return Ok(());
        }
        if dirty {
            app.shared.now = Timestamp::now();
            draw(term, &app)?;
            dirty = false;
        }
        if app.has_stale() && debounce.is_none() {
            debounce = Some(Box::pin(tokio::time::sleep(DEBOUNCE)));
        }
        let ticking = app.needs_tick();
        let action = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(ev)) => term_action(&app, ev),
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            Some(msg) = rx.recv() => io.receive(msg),
            note = recv_note(&mut io.notes) => io.notification(note),
            _ = tick.tick(), if ticking => Some(Action::Tick),
            _ = terminate.recv() => return Ok(()),
            _ = hangup.recv() => return Ok(()),
            _ = async { if let Some(d) = debounce.as_mut() { d.await } }, if debounce.is_some() => {
                debounce = None;
                let cmds = app.flush_stale();
                io.run_all(cmds, term, &mut app)?;
                None
            },
            Some(_) = io.tasks.join_next(), if !io.tasks.is_empty() => None,
        };
        if let Some(action) = action {
            dirty |= apply(&mut app, &mut io, term, action)?;
        }
        // Coalesce: take everything already waiting before drawing again.
        while let Ok(msg) = rx.try_recv() {
            if let Some(action) = io.receive(msg) {
                dirty |= apply(&mut app, &mut io, term, action)?;
            }
        }
        while let Some(Ok(note)) = io.notes.as_mut().map(|n| n.try_recv()) {
            if let Some(action) = io.notification(Some(note)) {
                dirty |= apply(&mut app, &mut io, term, action)?;
            }
        }
    }
}

/// The default keymap with `[tui.keys.*]` from `config.toml` applied; a missing file is no
/// error, a refused entry is reported (and the rest still applied).
async fn load_key_overrides(paths: &Paths) -> (Keymap, Option<String>) {
    let mut keymap = Keymap::default();
    let Ok(text) = tokio::fs::read_to_string(&paths.config).await else {
        return (keymap, None);
    };
    let table: toml::Table = match toml::from_str(&text) {
        Ok(t) => t,
        // The daemon reports a broken config file; the defaults still work.
        Err(_) => return (keymap, None),
    };
    let errors = keymap.apply_config(&table);
    let error =
        (!errors.is_empty()).then(|| format!("{}: {}", paths.config.display(), errors.join("; ")));
    (keymap, error)
}

fn apply(app: &mut App, io: &mut Io, term: &mut Tui, action: Action) -> anyhow::Result<bool> {
    // Messages are logged with the time they arrive, even after a long idle spell.
    app.shared.now = Timestamp::now();
    let cmds = app.update(action);
    io.run_all(cmds, term, app)?;
    Ok(true)
}

fn draw(term: &mut Tui, app: &App) -> std::io::Result<()> {
    queue!(term.backend_mut(), BeginSynchronizedUpdate)?;
    term.draw(|f| frame::draw(f, app))?;
    execute!(term.backend_mut(), EndSynchronizedUpdate)
}

fn term_action(app: &App, ev: TermEvent) -> Option<Action> {
    match ev {
        TermEvent::Key(k) if k.kind != KeyEventKind::Release => Some(app.key_action(k)),
        TermEvent::Resize(w, h) => Some(Action::Resize(w, h)),
        TermEvent::Paste(text) => Some(Action::Paste(text)),
        TermEvent::Mouse(m) => match m.kind {
            MouseEventKind::ScrollDown => Some(Action::Ui(UiAction::Down)),
            MouseEventKind::ScrollUp => Some(Action::Ui(UiAction::Up)),
            MouseEventKind::Down(MouseButton::Left) => Some(Action::Click {
                col: m.column,
                row: m.row,
            }),
            _ => None,
        },
        _ => None,
    }
}

async fn recv_note(notes: &mut Option<mpsc::Receiver<Notification>>) -> Option<Notification> {
    match notes {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
