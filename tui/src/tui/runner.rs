//! Runs the app's commands: protocol calls on spawned tasks (their replies come back to
//! the event loop as actions), images encoded off the UI thread, the clipboard, the
//! opener. When the connection drops, a reconnect task retries with backoff.

use crate::client::{Client, ClientError, Endpoint};
use crate::inputs::{input_location, is_url};
use crate::tui::action::{Action, CallError, call_error};
use crate::tui::app::App;
use crate::tui::catalog::CatalogData;
use crate::tui::command::{BatchCall, Command};
use crate::tui::preview::{self, Cover};
use crate::tui::side_link::SideLink;
use crate::tui::terminal::{self, Tui};
use crate::tui::{clipboard, export, remote};
use genq_protocol::batch::BatchRef;
use genq_protocol::catalog::{LoraRef, LorasListParams, ModelsListParams};
use genq_protocol::methods::{
    BatchCancel, BatchGet, BatchList, BatchRetry, CapabilitiesList, CategoriesList, DaemonStatus,
    Empty, JobsCancel, JobsEvents, JobsExport, JobsGet, JobsList, JobsRetry, LorasGet, LorasList,
    ModelsList, NOTIFY_EVENT, NOTIFY_RESYNC, ProvidersList, ResyncParams, Submit, SubmitParams,
    Subscribe, SubscribeParams, SuppliersList,
};
use genq_protocol::rpc::Notification;
use genq_protocol::{ErrorKind, Event, JobId, JobSpec, Method};
use ratatui_image::picker::Picker;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a LoRA listing may take before the gallery says so and offers a retry.
const LORAS_TIMEOUT: Duration = Duration::from_secs(10);

/// What spawned tasks send back to the event loop.
pub enum Msg {
    Action(Box<Action>),
    Connected(Client, mpsc::Receiver<Notification>),
}

/// The connection and everything that runs on its behalf.
pub struct Io {
    endpoint: Endpoint,
    /// This machine's cache directory, where outputs from another machine are pulled.
    cache: PathBuf,
    client: Option<Client>,
    pub notes: Option<mpsc::Receiver<Notification>>,
    tx: mpsc::UnboundedSender<Msg>,
    pub tasks: JoinSet<()>,
    picker: Option<Picker>,
    /// LoRA listings and cards, beside the main connection.
    loras_link: SideLink,
    /// Cover downloads, which can take long, on a connection of their own.
    covers_link: SideLink,
}

/// Input images as the daemon needs them: URLs as given, local files made absolute against
/// this directory and refused, next to their field, when they do not exist.
pub fn local_inputs(mut spec: JobSpec) -> Result<JobSpec, CallError> {
    let cwd = std::env::current_dir()
        .map_err(|e| refused("image", format!("cannot read the current directory: {e}")))?;
    if let Some(image) = &spec.image {
        let found = input_location("image", &home_path(image), &cwd);
        spec.image = Some(found.map_err(|e| refused("image", e.to_string()))?);
    }
    for (name, path) in spec.views.iter_mut() {
        let found = input_location(&format!("view {name}"), &home_path(path), &cwd);
        *path = found.map_err(|e| refused("views", e.to_string()))?;
    }
    Ok(spec)
}

/// Input images for a daemon on another host, which cannot read this machine's files: URLs
/// (`file:///PATH` for a file there) as given, anything else refused next to its field, in
/// words short enough for the form's side column.
pub fn remote_inputs(spec: JobSpec) -> Result<JobSpec, CallError> {
    const USE: &str = "use a URL, or file:///PATH on the remote host";
    if spec.image.as_deref().is_some_and(|i| !is_url(i)) {
        return Err(refused("image", USE.to_string()));
    }
    if let Some(name) = spec.views.iter().find(|(_, v)| !is_url(v)).map(|(n, _)| n) {
        return Err(refused("views", format!("view {name}: {USE}")));
    }
    Ok(spec)
}

/// An input refused before it was sent, shown next to `field`.
fn refused(field: &str, message: String) -> CallError {
    CallError {
        field: Some(field.to_string()),
        ..CallError::local(message)
    }
}

/// `~/x.png` as a shell would read it: typed into the form, no shell expands it.
fn home_path(value: &str) -> String {
    match (value.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => std::path::Path::new(&home).join(rest).display().to_string(),
        _ => value.to_string(),
    }
}

impl Msg {
    fn action(a: Action) -> Msg {
        Msg::Action(Box::new(a))
    }
}

impl Io {
    pub fn new(
        endpoint: Endpoint,
        cache: PathBuf,
        client: Client,
        notes: mpsc::Receiver<Notification>,
        tx: mpsc::UnboundedSender<Msg>,
        picker: Option<Picker>,
    ) -> Io {
        Io {
            loras_link: SideLink::new(endpoint.clone(), "genq-tui-loras"),
            covers_link: SideLink::new(endpoint.clone(), "genq-tui-covers"),
            endpoint,
            cache,
            client: Some(client),
            notes: Some(notes),
            tx,
            tasks: JoinSet::new(),
            picker,
        }
    }

    pub fn receive(&mut self, msg: Msg) -> Option<Action> {
        match msg {
            Msg::Action(a) => Some(*a),
            Msg::Connected(client, notes) => {
                let version = client.daemon.version.clone();
                self.client = Some(client);
                self.notes = Some(notes);
                Some(Action::Connected { version })
            }
        }
    }

    /// A notification, or `None` when the connection closed.
    pub fn notification(&mut self, note: Option<Notification>) -> Option<Action> {
        let Some(note) = note else {
            self.client = None;
            self.notes = None;
            self.spawn_reconnect();
            return Some(Action::Disconnected {
                reason: "the connection to the daemon was lost".into(),
            });
        };
        let params = note.params.unwrap_or(serde_json::Value::Null);
        match note.method.as_str() {
            NOTIFY_EVENT => serde_json::from_value::<Event>(params)
                .ok()
                .map(Action::Notify),
            NOTIFY_RESYNC => serde_json::from_value::<ResyncParams>(params)
                .ok()
                .map(|r| Action::Resync {
                    last_seq: r.last_seq,
                }),
            _ => None,
        }
    }

    fn spawn_reconnect(&mut self) {
        let tx = self.tx.clone();
        let endpoint = self.endpoint.clone();
        self.tasks.spawn(async move {
            let mut delay = Duration::from_millis(250);
            for attempt in 1.. {
                let _ = tx.send(Msg::action(Action::Reconnecting {
                    attempt,
                    delay_ms: delay.as_millis() as u64,
                }));
                tokio::time::sleep(delay).await;
                // No autostart here: a daemon that was stopped on purpose stays stopped.
                if let Ok((client, notes)) = endpoint.connect("genq-tui", false).await {
                    let _ = tx.send(Msg::Connected(client, notes));
                    return;
                }
                delay = (delay * 2).min(MAX_BACKOFF);
            }
        });
    }

    pub fn run_all(
        &mut self,
        cmds: Vec<Command>,
        term: &mut Tui,
        app: &mut App,
    ) -> anyhow::Result<()> {
        for cmd in cmds {
            self.run(cmd, term, app)?;
        }
        Ok(())
    }

    /// Spawns a protocol call whose reply comes back as an action.
    fn call<M: Method + 'static>(
        &mut self,
        what: &'static str,
        params: M::Params,
        ok: impl FnOnce(M::Result) -> Action + Send + 'static,
    ) where
        M::Params: 'static,
        M::Result: 'static,
    {
        self.call_or::<M>(params, ok, move |e| Action::CallFailed {
            what: what.to_string(),
            error: e,
        });
    }

    fn call_or<M: Method + 'static>(
        &mut self,
        params: M::Params,
        ok: impl FnOnce(M::Result) -> Action + Send + 'static,
        fail: impl FnOnce(CallError) -> Action + Send + 'static,
    ) where
        M::Params: 'static,
        M::Result: 'static,
    {
        let tx = self.tx.clone();
        let Some(client) = self.client.clone() else {
            let _ = tx.send(Msg::action(fail(CallError::local(
                "not connected to the daemon",
            ))));
            return;
        };
        self.tasks.spawn(async move {
            let action = match client.call::<M>(params).await {
                Ok(r) => ok(r),
                // The closed notification channel reports the lost connection once.
                Err(ClientError::Disconnected) => return,
                Err(e) => fail(call_error(&e)),
            };
            let _ = tx.send(Msg::action(action));
        });
    }

    /// The four catalog lists in one task, reported together.
    fn fetch_catalog(&mut self) {
        let tx = self.tx.clone();
        let Some(client) = self.client.clone() else {
            return;
        };
        self.tasks.spawn(async move {
            let models = ModelsListParams {
                include_removed: true,
                ..ModelsListParams::default()
            };
            let action = match client.call::<ModelsList>(models).await {
                Err(ClientError::Disconnected) => return,
                Err(e) => Action::CatalogFailed(call_error(&e)),
                Ok(models) => {
                    // Lists an older daemon lacks are simply empty.
                    let suppliers = client.call::<SuppliersList>(Empty {}).await;
                    let categories = client.call::<CategoriesList>(Empty {}).await;
                    let capabilities = client.call::<CapabilitiesList>(Empty {}).await;
                    Action::CatalogLoaded(Box::new(CatalogData {
                        models,
                        suppliers: suppliers.unwrap_or_default(),
                        categories: categories.unwrap_or_default(),
                        capabilities: capabilities.unwrap_or_default(),
                    }))
                }
            };
            let _ = tx.send(Msg::action(action));
        });
    }

    /// One page of `loras.list`. A listing (not a cover download) that takes longer than
    /// [`LORAS_TIMEOUT`] is reported as a timeout; the user can retry.
    /// Decodes and encodes an image on a blocking thread (never on the UI thread) and sends
    /// the resulting action back; nothing happens without a graphics picker.
    fn encode_off_thread<F>(&mut self, work: F)
    where
        F: FnOnce(&Picker) -> Action + Send + 'static,
    {
        let Some(picker) = self.picker.clone() else {
            return;
        };
        let tx = self.tx.clone();
        self.tasks.spawn(async move {
            if let Ok(action) = tokio::task::spawn_blocking(move || work(&picker)).await {
                let _ = tx.send(Msg::action(action));
            }
        });
    }

    fn fetch_loras(&mut self, generation: u64, params: LorasListParams) {
        let tx = self.tx.clone();
        let page = params.page.unwrap_or(1);
        let covers = params.download_covers;
        let fail = move |error| Action::LorasFailed {
            generation,
            page,
            covers,
            error,
        };
        let link = if covers {
            self.covers_link.clone()
        } else {
            self.loras_link.clone()
        };
        self.tasks.spawn(async move {
            let call = link.call::<LorasList>(params);
            let reply = if covers {
                Ok(call.await)
            } else {
                tokio::time::timeout(LORAS_TIMEOUT, call).await
            };
            let action = match reply {
                Err(_) => fail(CallError {
                    kind: Some(ErrorKind::Timeout),
                    ..CallError::local(format!("no answer within {} s", LORAS_TIMEOUT.as_secs()))
                }),
                Ok(Err(e)) => fail(call_error(&e)),
                Ok(Ok(result)) => Action::LorasLoaded {
                    generation,
                    page,
                    covers,
                    result,
                },
            };
            let _ = tx.send(Msg::action(action));
        });
    }

    fn run(&mut self, cmd: Command, term: &mut Tui, app: &mut App) -> anyhow::Result<()> {
        match cmd {
            Command::FetchPage { generation, params } => {
                let offset = params.offset.unwrap_or(0);
                self.call::<JobsList>("listing jobs", params, move |page| Action::PageLoaded {
                    generation,
                    offset,
                    page,
                });
            }
            Command::FetchJob(id) => {
                self.call::<JobsGet>("loading a job", (&id).into(), Action::JobLoaded)
            }
            Command::FetchEvents(id) => {
                let for_id = id.clone();
                self.call::<JobsEvents>("loading events", (&id).into(), move |events| {
                    Action::EventsLoaded { id: for_id, events }
                })
            }
            Command::FetchStatus => {
                self.call::<DaemonStatus>(
                    "daemon status",
                    Default::default(),
                    Action::StatusLoaded,
                );
                self.call::<ProvidersList>(
                    "listing providers",
                    Default::default(),
                    Action::ProvidersLoaded,
                );
            }
            Command::Subscribe { since_seq } => self.call::<Subscribe>(
                "subscribing to events",
                SubscribeParams { since_seq },
                |r| Action::Subscribed {
                    head_seq: r.head_seq,
                },
            ),
            Command::Cancel(id) => {
                self.call::<JobsCancel>("cancel", (&id).into(), |job| Action::JobChanged {
                    verb: "canceled",
                    job,
                })
            }
            Command::Retry(id) => {
                self.call::<JobsRetry>("retry", (&id).into(), |job| Action::JobChanged {
                    verb: "retried as",
                    job,
                })
            }
            Command::ExportForRerun(id) => {
                self.call::<JobsExport>("export", (&id).into(), Action::RerunLoaded)
            }
            Command::ExportToFile { id, path } => self.export_to_file(id, path),
            Command::Submit(spec) => self.submit(spec),
            Command::Copy(text) => {
                let mut out = std::io::stdout();
                out.write_all(clipboard::osc52(&text).as_bytes())?;
                out.flush()?;
            }
            Command::OpenOutput { id, path } => self.open_output(id, path),
            Command::SetMouse(on) => terminal::set_mouse(on)?,
            Command::LoadPreview {
                id,
                path,
                cols,
                rows,
            } if preview::is_local(&path) => self.encode_off_thread(move |picker| {
                Action::PreviewReady(preview::load(picker, id, path, cols, rows))
            }),
            Command::LoadPreview { id, .. } => {
                let _ = self.tx.send(Msg::action(Action::PreviewNotLocal(id)));
            }
            Command::FetchPreview { id, cols, rows } => self.fetch_preview(id, cols, rows),
            Command::FetchCatalog => self.fetch_catalog(),
            Command::FetchLoras { generation, params } => self.fetch_loras(generation, params),
            Command::LoadCover {
                id,
                path,
                cols,
                rows,
            } => self.encode_off_thread(move |picker| {
                let result = preview::encode(picker, &path, cols, rows);
                Action::CoverReady(Cover { id, result })
            }),
            Command::FetchLoraCard(id) => self.fetch_lora_card(id),
            Command::Batch(call) => self.batch(call),
            Command::Suspend => {
                terminal::suspend(term, app.mouse)?;
            }
            Command::Quit => app.quit = true,
        }
        Ok(())
    }

    /// `submit`, with the input images checked first (and made absolute when local).
    fn submit(&mut self, spec: JobSpec) {
        let checked = match self.endpoint.remote() {
            Some(_) => remote_inputs(spec),
            None => local_inputs(spec),
        };
        match checked {
            Ok(spec) => self.call_or::<Submit>(
                SubmitParams {
                    spec,
                    idempotency_key: None,
                },
                Action::Submitted,
                Action::SubmitFailed,
            ),
            Err(e) => {
                let _ = self.tx.send(Msg::action(Action::SubmitFailed(e)));
            }
        }
    }

    /// `jobs.export` written to a JSON file.
    fn export_to_file(&mut self, id: JobId, path: PathBuf) {
        let tx = self.tx.clone();
        let Some(client) = self.client.clone() else {
            let _ = tx.send(Msg::action(Action::Info(
                "not connected to the daemon".into(),
            )));
            return;
        };
        self.tasks.spawn(async move {
            if let Some(action) = export::to_file(&client, &id, &path).await {
                let _ = tx.send(Msg::action(action));
            }
        });
    }

    /// Opens an output with the system opener, pulling its job into the cache directory
    /// first when the file is not on this machine.
    fn open_output(&mut self, id: JobId, path: String) {
        let tx = self.tx.clone();
        if std::path::Path::new(&path).exists() {
            let _ = tx.send(Msg::action(remote::open_local(std::path::Path::new(&path))));
            return;
        }
        let Some(client) = self.client.clone() else {
            let _ = tx.send(Msg::action(Action::Info(
                "not connected to the daemon".into(),
            )));
            return;
        };
        let _ = tx.send(Msg::action(Action::Info(format!(
            "{path} is not on this machine; pulling it"
        ))));
        let cache = self.cache.clone();
        self.tasks.spawn(async move {
            let action = remote::pull_then_open(client, cache, id, path).await;
            let _ = tx.send(Msg::action(action));
        });
    }

    /// `outputs.preview` for an output that is not on this machine, encoded off the UI
    /// thread.
    fn fetch_preview(&mut self, id: JobId, cols: u16, rows: u16) {
        let (Some(client), Some(picker)) = (self.client.clone(), self.picker.clone()) else {
            return;
        };
        let tx = self.tx.clone();
        self.tasks.spawn(async move {
            let action = remote::fetch_preview(client, picker, id, cols, rows).await;
            let _ = tx.send(Msg::action(action));
        });
    }

    /// `loras.get` for a LoRA a job used.
    fn batch(&mut self, call: BatchCall) {
        match call {
            BatchCall::List => {
                self.call::<BatchList>("listing batches", Empty {}, Action::BatchesLoaded)
            }
            BatchCall::Get(id) => self.call::<BatchGet>("loading a batch", BatchRef { id }, |d| {
                Action::BatchLoaded(Box::new(d))
            }),
            BatchCall::Cancel(id) => {
                self.call::<BatchCancel>("cancel batch", BatchRef { id }, |batch| {
                    Action::BatchChanged {
                        verb: "canceled",
                        batch,
                    }
                })
            }
            BatchCall::Retry(id) => {
                self.call::<BatchRetry>("retry batch", BatchRef { id }, |batch| {
                    Action::BatchChanged {
                        verb: "retried",
                        batch,
                    }
                })
            }
        }
    }

    fn fetch_lora_card(&mut self, id: String) {
        let tx = self.tx.clone();
        let link = self.loras_link.clone();
        self.tasks.spawn(async move {
            let action = match link
                .call::<LorasGet>(LoraRef {
                    id: id.clone(),
                    source: None,
                })
                .await
            {
                Ok(card) => Action::LoraCardLoaded(card),
                Err(e) => Action::LoraCardFailed {
                    id,
                    error: call_error(&e),
                },
            };
            let _ = tx.send(Msg::action(action));
        });
    }
}
