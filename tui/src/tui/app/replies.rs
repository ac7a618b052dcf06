//! What comes back from the daemon: the connection's ups and downs, live events, and the
//! replies to the app's commands, each handed to the screen it is for.

use super::state::App;
use crate::tui::action::Action;
use crate::tui::catalog::{CatalogData, Choices};
use crate::tui::command::Command;
use crate::tui::screens::tabs::Screen;
use crate::tui::shared::{Connection, Quota};
use genq_protocol::methods::ProviderInfo;
use genq_protocol::{Event, EventBody, Job};

impl App {
    /// A daemon reply, notification or connection change.
    pub(super) fn reply(&mut self, action: Action) -> Vec<Command> {
        match action {
            Action::Connected { version } => self.connected(version),
            Action::Disconnected { reason } => {
                self.shared.conn = Connection::Reconnecting {
                    attempt: 0,
                    delay_ms: 0,
                };
                self.shared.info = None;
                self.shared.fail(reason);
                Vec::new()
            }
            Action::Reconnecting { attempt, delay_ms } => {
                self.shared.conn = Connection::Reconnecting { attempt, delay_ms };
                Vec::new()
            }
            Action::Subscribed { head_seq } => {
                let detail_open = self.detail.open.is_some();
                self.live.subscribed(head_seq, detail_open)
            }
            Action::Notify(event) => {
                self.event(event);
                Vec::new()
            }
            Action::Resync { last_seq } => {
                self.live.all_stale(self.detail.open.is_some());
                vec![Command::Subscribe {
                    since_seq: Some(last_seq),
                }]
            }
            Action::StatusLoaded(status) => {
                self.shared.counts = status.jobs;
                if let Some(e) = status.config_error {
                    self.shared.fail(format!("config: {e}"));
                }
                Vec::new()
            }
            Action::ProvidersLoaded(providers) => {
                self.providers_loaded(providers);
                Vec::new()
            }
            Action::Info(msg) => {
                self.shared.note(msg);
                Vec::new()
            }
            Action::CallFailed { what, error } => {
                self.jobs.loading = false;
                self.shared.fail(format!("{what}: {error}"));
                Vec::new()
            }
            Action::BatchesLoaded(list) => {
                self.batches.list_loaded(list);
                Vec::new()
            }
            Action::BatchLoaded(detail) => {
                self.batches.detail_loaded(*detail);
                Vec::new()
            }
            Action::BatchChanged { verb, batch } => {
                self.shared.note(format!("{verb} batch {}", batch.id));
                self.batches.batch_changed(&batch);
                self.live.batches = true;
                self.live.page = true;
                self.live.status = true;
                Vec::new()
            }
            other => self.job_reply(other),
        }
    }

    /// Replies about jobs: pages, one job, its events and preview, submits and re-runs.
    fn job_reply(&mut self, action: Action) -> Vec<Command> {
        match action {
            Action::PageLoaded {
                generation,
                offset,
                page,
            } => self
                .jobs
                .page_loaded(generation, offset, page, &self.shared),
            Action::JobLoaded(job) => self.job_loaded(job),
            Action::EventsLoaded { id, events } => {
                self.detail.events_loaded(&id, events);
                Vec::new()
            }
            Action::PreviewReady(preview) => {
                self.detail.preview_ready(preview);
                Vec::new()
            }
            Action::PreviewNotLocal(id) => self.detail.preview_not_local(&id, &self.shared),
            Action::Submitted(job) => {
                self.form.clear();
                self.shared
                    .note(format!("submitted job {}", job.short_id()));
                self.screen = Screen::Jobs;
                vec![self.jobs.show_newest(&self.shared), Command::FetchStatus]
            }
            Action::SubmitFailed(err) => {
                self.form.failed(err, &mut self.shared);
                Vec::new()
            }
            Action::RerunLoaded(spec) => {
                let of = self.pending_rerun.take();
                self.form.rerun(&spec, of);
                self.screen = Screen::Submit;
                Vec::new()
            }
            Action::JobChanged { verb, job } => {
                self.shared.note(format!("{verb} job {}", job.short_id()));
                let cmds = self.job_loaded(job);
                self.live.page = true;
                self.live.status = true;
                cmds
            }
            other => self.catalog_reply(other),
        }
    }

    /// Replies about the catalog: models, LoRA pages, covers and cards.
    fn catalog_reply(&mut self, action: Action) -> Vec<Command> {
        match action {
            Action::CatalogLoaded(data) => {
                self.catalog_loaded(*data);
                Vec::new()
            }
            Action::CatalogFailed(error) => {
                // An older daemon without a catalog: the built-in list stays.
                self.shared
                    .fail(format!("loading the model catalog: {error}"));
                Vec::new()
            }
            Action::LorasLoaded {
                generation,
                page,
                covers,
                result,
            } => self
                .gallery
                .loaded(generation, page, covers, result, &mut self.shared),
            Action::LorasFailed {
                generation,
                page,
                covers,
                error,
            } => {
                self.gallery
                    .failed(generation, page, covers, &error, &mut self.shared);
                Vec::new()
            }
            Action::CoverReady(cover) => {
                self.gallery.cover_loaded(cover);
                Vec::new()
            }
            Action::LoraCardLoaded(card) => {
                self.detail.card_loaded(card);
                Vec::new()
            }
            Action::LoraCardFailed { id, error } => {
                self.detail.card_failed(id, &error);
                Vec::new()
            }
            // Keys, clicks and the clock are handled by `update`.
            _ => Vec::new(),
        }
    }

    fn connected(&mut self, version: String) -> Vec<Command> {
        let again = matches!(self.shared.conn, Connection::Reconnecting { .. });
        self.shared.conn = Connection::Connected { version };
        self.shared.clear_offline_errors();
        if again {
            self.shared.note("connected to the daemon again");
        }
        let mut cmds = vec![
            Command::Subscribe {
                since_seq: self.live.last_seq,
            },
            Command::FetchStatus,
            self.jobs.fetch_page(&self.shared),
            Command::FetchCatalog,
        ];
        // Listings cut off by the lost connection are asked again.
        cmds.extend(self.gallery.reconnected(&self.shared));
        cmds.extend(self.detail.refetch());
        if self.batches.grouped {
            cmds.extend(self.batches.refetch());
        }
        cmds
    }

    fn providers_loaded(&mut self, providers: Vec<ProviderInfo>) {
        self.shared.provider_keys = Some(
            providers
                .iter()
                .map(|p| (p.name.clone(), p.has_key))
                .collect(),
        );
        self.shared.quotas = providers
            .into_iter()
            .filter(|p| p.quota_remaining.is_some() || p.quota_detail.is_some())
            .map(|p| Quota {
                provider: p.name,
                remaining: p.quota_remaining,
                detail: p.quota_detail,
            })
            .collect();
    }

    fn catalog_loaded(&mut self, data: CatalogData) {
        let choices =
            Choices::from_catalog(&data.suppliers, &data.models).unwrap_or_else(Choices::builtin);
        self.form.set_choices(choices);
        self.models.catalog_loaded(data);
    }

    /// A fresh copy of a job, for its row and the detail screen.
    pub(super) fn job_loaded(&mut self, job: Job) -> Vec<Command> {
        self.jobs.replace_row(&job);
        self.detail.job_loaded(job, &self.shared)
    }

    /// Applies a live event: small changes in place at once, refetches marked for the
    /// debounced flush. Events at or below the last seen `seq` are duplicates and ignored.
    fn event(&mut self, event: Event) {
        if !self.live.accept(event.seq, self.detail.open.is_some()) {
            return;
        }
        let id = event.job_id.clone();
        let shown = self.jobs.has_row(&id);
        self.live.batches |= self.batches.grouped
            && matches!(
                event.body,
                EventBody::Created { .. } | EventBody::State { .. } | EventBody::Removed { .. }
            );
        self.jobs.apply_event(&event);
        match &event.body {
            EventBody::Created { .. } | EventBody::Removed { .. } => {
                self.live.page = true;
                self.live.status = true;
            }
            EventBody::State { .. } => {
                if shown {
                    self.live.rows.insert(id);
                }
                self.live.status = true;
                self.live.page |= self.jobs.filter != 0;
            }
            EventBody::Progress { .. } => {}
            EventBody::Remote { .. }
            | EventBody::Output { .. }
            | EventBody::Upload { .. }
            | EventBody::Note { .. } => {
                if shown {
                    self.live.rows.insert(id);
                }
            }
        }
        if self.detail.apply_event(event) {
            self.live.detail = true;
        }
    }
}
