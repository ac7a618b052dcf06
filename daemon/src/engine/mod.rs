//! The job engine: accepts jobs, drives each through its provider on a task of its own,
//! and resumes unfinished jobs after a restart. Every committed change is announced by the
//! store, in commit order.
//!
//! Layout: [`runner`] is the loop that drives one job through its steps, one file per step
//! with its retry policy: [`submit`] (over [`call`], one provider call with retries), [`poll`],
//! [`fetch`] and [`upload`] (storing). [`limits`] holds what a provider's jobs share (request
//! budget, task slots, slowdowns); [`inner`] what the engine and its runners share.

mod call;
mod error;
mod fetch;
mod housekeeping;
mod inner;
pub mod limits;
pub mod poll;
mod queue;
mod runner;
mod submit;
#[cfg(test)]
mod tests;
mod upload;

pub use error::EngineError;

use crate::config::Config;
use crate::providers::{CallContext, InvalidParam, Registry};
use crate::store::{Created, NewJob, Store, StoreError, Transition};
use genq_protocol::{Event, Job, JobError, JobErrorKind, JobId, JobKind, JobSpec, JobState, Paths};
use inner::Inner;
use limits::ProviderLimits;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    pub fn new(store: Store, registry: Registry, config: Config, paths: Paths) -> Engine {
        Engine {
            inner: Arc::new(Inner {
                store,
                registry: RwLock::new(Arc::new(registry.updated(&config))),
                config: RwLock::new(Arc::new(config)),
                config_error: Mutex::new(None),
                config_applied: tokio::sync::watch::Sender::new(()),
                paths,
                http: OnceLock::new(),
                limits: Mutex::new(Default::default()),
                running: Mutex::new(HashMap::new()),
                admitters: Mutex::new(HashMap::new()),
                tasks: TaskTracker::new(),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn paths(&self) -> &Paths {
        &self.inner.paths
    }

    /// The adaptors of the provider instances in force.
    pub fn registry(&self) -> Arc<Registry> {
        self.inner.registry()
    }

    pub fn config(&self) -> Arc<Config> {
        self.inner.config()
    }

    /// Puts a new config in force (hot reload).
    pub fn apply_config(&self, config: Config) {
        if let Ok(mut c) = self.inner.config.write() {
            *c = Arc::new(config.clone());
        }
        self.inner.apply_providers(&config);
        self.set_config_error(None);
        self.inner.config_applied.send_replace(());
    }

    /// Changes each time a new config is put in force (hot reload).
    pub fn config_applied(&self) -> tokio::sync::watch::Receiver<()> {
        self.inner.config_applied.subscribe()
    }

    /// Records (or clears) why the config on disk is not in force.
    pub fn set_config_error(&self, error: Option<String>) {
        if let Ok(mut e) = self.inner.config_error.lock() {
            *e = error;
        }
    }

    /// Loads the config files again and puts them in force, or records why they cannot be
    /// (the previous config stays). Loading runs key commands, so on a blocking thread.
    pub async fn reload_config(&self) {
        let paths = self.paths().clone();
        let loaded =
            tokio::task::spawn_blocking(move || Config::load(&paths, &Registry::builtin())).await;
        let path = self.paths().config.display().to_string();
        match loaded {
            Ok(Ok(config)) => {
                if let Err(e) = crate::catalog::seed_instances(&self.inner.store, &config).await {
                    tracing::error!("the catalog rows of new provider instances: {e}");
                }
                self.apply_config(config);
                self.refresh_listed_models();
                tracing::info!("config reloaded from {path}");
            }
            Ok(Err(e)) => {
                tracing::error!("config not reloaded, the previous one stays in force: {e}");
                self.set_config_error(Some(e.to_string()));
            }
            Err(e) => tracing::error!("config not reloaded: the loading task failed: {e}"),
        }
    }

    pub fn config_error(&self) -> Option<String> {
        self.inner.config_error.lock().ok().and_then(|e| e.clone())
    }

    /// The limits of the provider instance `name`, when the config defines it.
    pub fn provider_limits(&self, name: &str) -> Option<Arc<ProviderLimits>> {
        self.config()
            .providers
            .contains_key(name)
            .then(|| self.inner.limits_of(name))
    }

    /// What an adaptor needs for a call to `provider` outside a job (e.g. a quota query),
    /// from the config in force now.
    pub fn call_context(&self, provider: &str) -> Option<CallContext> {
        self.inner.call_context(provider)
    }

    /// Live events, for subscribers, in `seq` order.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.store.subscribe()
    }

    /// Validates a spec, creates the job and starts it. The same idempotency key returns
    /// the job created first, whatever the spec.
    pub async fn submit(
        &self,
        spec: JobSpec,
        idempotency_key: Option<String>,
        retry_of: Option<JobId>,
    ) -> Result<Job, EngineError> {
        if let Some(key) = &idempotency_key
            && (key.is_empty() || key.len() > 200)
        {
            return Err(InvalidParam::new("idempotency_key", "must be 1 to 200 characters").into());
        }
        let (kind, spec) = self.check(spec).await?;
        let new = NewJob {
            id: JobId(uuid::Uuid::now_v7().to_string()),
            kind,
            spec,
            idempotency_key,
            retry_of,
        };
        match self.inner.store.create_job(new).await? {
            Created::Existing(job) => Ok(job),
            Created::New(job, _) => {
                queue::wake(&self.inner, &job.provider);
                Ok(job)
            }
        }
    }

    /// Everything `submit` checks before it creates a job: the provider, the storage
    /// targets, the parameters against the catalog, the key. Returns the spec as the job
    /// would record it (the catalog's default model filled in).
    pub async fn check(&self, mut spec: JobSpec) -> Result<(JobKind, JobSpec), EngineError> {
        let provider =
            self.inner
                .adaptor(&spec.provider)
                .ok_or_else(|| EngineError::UnknownProvider {
                    name: spec.provider.clone(),
                    known: self.registry().names().collect::<Vec<_>>().join(", "),
                })?;
        if let Some(targets) = &spec.store {
            let config = self.config();
            for (i, t) in targets.iter().enumerate() {
                upload::check_target(&config, format!("store[{i}]"), t)?;
            }
        }
        let kind = crate::catalog::check_spec(&self.inner.store, &*provider, &mut spec).await?;
        // Parameters first: a bad one is worth fixing whether or not the key is there.
        self.check_key(&spec.provider).await?;
        Ok((kind, spec))
    }

    /// Whether a job for the provider instance `name` could be sent now: the instance is
    /// configured and has its key, or needs none.
    pub fn can_send(&self, name: &str) -> bool {
        let Some(adaptor) = self.inner.adaptor(name) else {
            return false;
        };
        adaptor.key_env_vars().is_empty()
            || self
                .config()
                .providers
                .get(name)
                .is_some_and(|s| s.key.is_some())
    }

    /// Refuses a job for a provider the daemon has no key for, so it is never created only
    /// to fail. The files may have changed a moment ago (`genq auth set` just before the
    /// submit, while the watcher lets writes settle): they are read once more before refusing.
    async fn check_key(&self, provider: &str) -> Result<(), EngineError> {
        let needs_key = self
            .inner
            .adaptor(provider)
            .is_some_and(|p| !p.key_env_vars().is_empty());
        let has_key = |config: &Config| {
            config
                .providers
                .get(provider)
                .is_none_or(|s| s.key.is_some())
        };
        if !needs_key || has_key(&self.config()) {
            return Ok(());
        }
        self.reload_config().await;
        let config = self.config();
        if has_key(&config) {
            return Ok(());
        }
        let search = config
            .providers
            .get(provider)
            .map(|s| s.key_search.clone())
            .unwrap_or_default();
        Err(EngineError::MissingKey {
            message: search.missing_key_message(provider),
            env_vars: search.env_vars(),
        })
    }

    /// Cancels a job that has not finished.
    pub async fn cancel(&self, id: String) -> Result<Job, EngineError> {
        let job = self.inner.store.get_job(id).await?;
        if job.state.is_final() {
            return Err(EngineError::Conflict(format!(
                "job {} already {}; only unfinished jobs can be canceled",
                job.short_id(),
                job.state
            )));
        }
        let (job, _) = match self
            .inner
            .store
            .transition(job.id.clone(), Transition::Canceled)
            .await
        {
            Ok(done) => done,
            // It finished in the meantime.
            Err(StoreError::IllegalTransition { from, .. }) => {
                return Err(EngineError::Conflict(format!(
                    "job {} already {from}; only unfinished jobs can be canceled",
                    job.short_id()
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let token = self
            .inner
            .running
            .lock()
            .ok()
            .and_then(|r| r.get(&job.id).cloned());
        if let Some(token) = token {
            token.cancel();
        }
        if let (Some(remote), Some(provider)) =
            (job.remote_id.clone(), self.inner.adaptor(&job.provider))
        {
            // Best effort: tell the provider too, without holding up the reply.
            if let Some(ctx) = self.inner.call_context(&job.provider) {
                self.inner.tasks.spawn(async move {
                    let _ = provider.cancel(&ctx, &remote).await;
                });
            }
        }
        Ok(job)
    }

    /// Submits a finished job's parameters again as a new job pointing back at it.
    pub async fn retry(&self, id: String) -> Result<Job, EngineError> {
        let job = self.inner.store.get_job(id).await?;
        if !matches!(job.state, JobState::Failed | JobState::Canceled) {
            return Err(EngineError::Conflict(format!(
                "job {} is {}; only failed or canceled jobs can be retried \
                 (re-run any job with `genq export` and `genq submit --from`)",
                job.short_id(),
                job.state
            )));
        }
        self.submit(job.params.clone(), None, Some(job.id.clone()))
            .await
    }

    /// Runs a job's uploads again (`genq upload`): every target it was stored to (or the
    /// configured defaults), or just `target`. Only jobs whose outputs are on disk qualify.
    pub async fn upload(&self, id: String, target: Option<String>) -> Result<Job, EngineError> {
        let job = self.inner.store.get_job(id).await?;
        if job.state != JobState::Succeeded {
            return Err(EngineError::Conflict(format!(
                "job {} is {}; uploads run again only for succeeded jobs (an unfinished job \
                 uploads by itself when its outputs are ready)",
                job.short_id(),
                job.state
            )));
        }
        let targets = match target {
            Some(t) => {
                upload::check_target(&self.config(), "target".into(), &t)?;
                vec![t]
            }
            None => {
                let mut t: Vec<String> = job
                    .outputs
                    .iter()
                    .flat_map(|o| o.uploads.iter().map(|u| u.target.clone()))
                    .collect();
                t.extend(upload::targets_for(&self.inner, &job));
                t.sort();
                t.dedup();
                t
            }
        };
        if targets.is_empty() {
            return Err(EngineError::Conflict(format!(
                "job {} has no storage targets: name one with --target, or set \
                 [defaults] storage in the config",
                job.short_id()
            )));
        }
        let token = self.inner.shutdown.child_token();
        let _ = upload::upload_outputs(&self.inner, &job, &targets, &token).await;
        Ok(self.inner.store.get_job(job.id.0.clone()).await?)
    }

    /// Resumes every unfinished job after a start: running jobs are polled again, never
    /// resubmitted; a job caught while being submitted fails as `interrupted`; queued jobs
    /// stay in the database for their providers' admitters, which are woken last.
    pub async fn recover(&self) -> Result<usize, StoreError> {
        self.refresh_listed_models();
        let jobs = self.inner.store.started_jobs().await?;
        let queued = self.inner.store.queued_per_provider().await?;
        let count = jobs.len() + queued.values().sum::<u64>() as usize;
        let mut resumed = Vec::new();
        for job in jobs {
            if job.state == JobState::Submitting && job.remote_id.is_none() {
                let error = JobError {
                    kind: JobErrorKind::Interrupted,
                    message: "genq stopped while submitting this job; it may or may not have \
                              reached the provider, so it was not sent again. \
                              Run `genq retry` to submit it again"
                        .into(),
                    provider_request_id: None,
                };
                self.inner
                    .store
                    .transition(job.id.clone(), Transition::Failed(error))
                    .await?;
                continue;
            }
            // A task running at the provider holds its slot from now on, before any queued
            // job of this recovery can take one.
            let slot = (job.state == JobState::Running)
                .then(|| self.inner.limits_of(&job.provider).take_slot());
            resumed.push((job, slot));
        }
        for (job, slot) in resumed {
            runner::start(&self.inner, job, slot);
        }
        for provider in queued.keys() {
            queue::wake(&self.inner, provider);
        }
        Ok(count)
    }

    /// Asks every provider instance that lists its models (an OpenAI-compatible gateway
    /// whose table names none) for them and adds them to the catalog, in the background so
    /// that a slow gateway holds nothing up.
    fn refresh_listed_models(&self) {
        let config = self.config();
        let registry = self.registry();
        for name in registry.names() {
            let Some(adaptor) = registry.get(name).filter(|a| a.lists_models()).cloned() else {
                continue;
            };
            let Some(ctx) = self.inner.call_context(name) else {
                continue;
            };
            let (inner, config, name) = (self.inner.clone(), config.clone(), name.to_string());
            self.inner.tasks.spawn(async move {
                let listed = tokio::select! {
                    l = adaptor.list_models(&ctx) => l,
                    _ = inner.shutdown.cancelled() => return,
                };
                match listed {
                    Ok(Some(ids)) => {
                        let rows = crate::catalog::instances::listed_models(&config, &name, &ids);
                        if let Err(e) = inner.store.seed_catalog(rows).await {
                            tracing::warn!("the models {name} lists: {e}");
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!("cannot list the models of {name}: {e}"),
                }
            });
        }
    }

    /// How many jobs wait for a task slot, per provider.
    pub async fn queued_per_provider(
        &self,
    ) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        self.inner.store.queued_per_provider().await
    }

    /// Stops every runner at its next waiting point (state stays as committed, so a restart
    /// resumes) and waits for them, at most `grace`.
    pub async fn shutdown(&self, grace: std::time::Duration) {
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        let _ = tokio::time::timeout(grace, self.inner.tasks.wait()).await;
    }

    /// Runs a background task owned by the engine (stopped at shutdown).
    pub fn spawn_owned<F>(&self, f: impl FnOnce(CancellationToken) -> F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let fut = f(self.inner.shutdown.clone());
        self.inner.tasks.spawn(fut);
    }
}
