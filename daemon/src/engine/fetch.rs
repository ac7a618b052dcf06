//! The fetch step: downloads and verifies each output the provider reported, then `storing`.
//!
//! Retry policy per output: a failed download is tried [`FETCH_ATTEMPTS`] times with
//! backoff; a full disk (or no file handles) is waited out as long as it takes; a refused link
//! (expired) makes the runner ask the provider for fresh links, once per fetch. A complete
//! output already on disk (after a restart) is not downloaded again. Only a download from the
//! provider's API itself waits for its request budget; outputs on object storage or a CDN
//! do not.

use super::limits::ProviderLimits;
use super::runner::{Runner, Step, Stop, backoff, fail};
use crate::outputs::{self, FetchLimits};
use crate::providers::{PollStatus, Provider};
use crate::store::{OutputFile, OutputRecord, Transition};
use genq_protocol::{Job, JobError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Download attempts per output.
const FETCH_ATTEMPTS: u32 = 4;

/// What the downloads of one job share.
struct Downloads {
    dir: PathBuf,
    limits: FetchLimits,
    png_params: String,
    provider_limits: Arc<ProviderLimits>,
    /// The provider's API address, for [`from_the_api`].
    api_base: Option<String>,
    /// Links are asked for again once per fetch, after the first refused download.
    requeried: bool,
}

/// Whether a download is a request to the provider's API (the same origin as `api_base`),
/// and so draws on its request budget and waits out its pauses, as ComfyUI's `/view` does.
/// Outputs kept elsewhere (object storage, a CDN, a file the adaptor spooled) are not the
/// API's requests: they neither wait for its budget nor take from it.
fn from_the_api(api_base: Option<&str>, url: &str) -> bool {
    let origin = |u: &str| reqwest::Url::parse(u).map(|u| u.origin());
    match (api_base.map(origin), origin(url)) {
        (Some(Ok(api)), Ok(output)) => api == output,
        // An address that does not parse is counted, as before anything is known.
        _ => true,
    }
}

impl Runner<'_> {
    pub(super) async fn fetch(&mut self, provider: &Arc<dyn Provider>, job: Job) -> Step<Job> {
        let mut records = self
            .stored(&job, "read the outputs", || {
                self.inner.store.output_records(job.id.clone())
            })
            .await?
            .map_err(|_| Stop::Gone)?;
        let dir = outputs::job_dir(&self.inner.paths.outputs, &job.id, job.created_at);
        // A download cut short by a crash leaves only a temporary file: clear those away.
        let _ = outputs::remove_partials(&dir);
        let mut downloads = Downloads {
            dir,
            limits: FetchLimits {
                spool: Some(self.inner.paths.cache.join("spool")),
                ..FetchLimits::from_config(&self.inner.config().outputs)
            },
            png_params: outputs::png_params_json(&job),
            provider_limits: self.limits(&job),
            api_base: self.inner.base_url(&job.provider),
            requeried: false,
        };
        for k in 0..records.len() {
            let index = records[k].index;
            if let Some(found) = self
                .already_fetched(&job, &records[k], &downloads.dir)
                .await
            {
                self.record_output(&job, index, found).await?;
                continue;
            }
            let downloaded = self
                .download(provider, &job, &mut records, k, &mut downloads)
                .await?;
            match downloaded {
                Ok(fetched) => self.record_output(&job, index, fetched).await?,
                Err(err) => return self.commit(&job, Transition::Failed(err)).await,
            }
        }
        let job = self
            .stored(&job, "reload the job", || {
                self.inner.store.get_job(job.id.0.clone())
            })
            .await?
            .map_err(|_| Stop::Gone)?;
        // The parameters beside the files, so any output can be traced and re-run.
        if let Err(e) = outputs::write_params_json(&downloads.dir, &job) {
            tracing::warn!(job = %job.id, "cannot write params.json: {e}");
        }
        self.commit(&job, Transition::Fetched).await
    }

    /// Downloads output `k` with the retry policy above; `Err` is what the job fails with.
    async fn download(
        &self,
        provider: &Arc<dyn Provider>,
        job: &Job,
        records: &mut [OutputRecord],
        k: usize,
        d: &mut Downloads,
    ) -> Step<Result<OutputFile, JobError>> {
        let rec = records[k].clone();
        let mut attempt = 0;
        let mut delays = backoff();
        let mut local_delays = backoff();
        loop {
            attempt += 1;
            if from_the_api(d.api_base.as_deref(), &records[k].source_url) {
                tokio::select! {
                    biased;
                    _ = self.token.cancelled() => return Err(Stop::Interrupted),
                    _ = d.provider_limits.request_budget() => {}
                }
            }
            let result = tokio::select! {
                r = outputs::fetch(
                    self.inner.http(),
                    &records[k].source_url,
                    rec.role,
                    rec.format.as_deref(),
                    &d.dir,
                    rec.index,
                    &d.limits,
                    Some(&d.png_params),
                ) => r,
                _ = self.token.cancelled() => return Err(Stop::Interrupted),
            };
            match result {
                Ok(f) => return Ok(Ok(f)),
                // The disk, not the download: wait for room (or file handles) as long as it
                // takes; the job does not fail for it.
                Err(e) if e.local => {
                    attempt -= 1;
                    let wait = local_delays.next().unwrap_or(Duration::from_secs(60));
                    self.note(
                        job,
                        format!(
                            "output {} cannot be saved ({}); trying again in {:.0} s",
                            rec.index,
                            e.message,
                            wait.as_secs_f64()
                        ),
                    )
                    .await;
                    self.wait(wait).await?;
                }
                Err(e) if e.retryable && attempt < FETCH_ATTEMPTS => {
                    let wait = delays.next().unwrap_or(Duration::from_secs(5));
                    self.note(
                        job,
                        format!(
                            "download of output {} failed ({}); retrying",
                            rec.index, e.message
                        ),
                    )
                    .await;
                    self.wait(wait).await?;
                }
                Err(e) if e.link_refused() && !d.requeried => {
                    d.requeried = true;
                    // Download again, from the fresh link.
                    if let Err(why) = self.refresh_links(provider, job, records).await? {
                        let message = format!("output {}: {}; {why}", rec.index, e.message);
                        return Ok(Err(fail(e.kind, message)));
                    }
                }
                Err(e) => {
                    let message = format!("output {}: {}", rec.index, e.message);
                    return Ok(Err(fail(e.kind, message)));
                }
            }
        }
    }

    /// After a download was refused (an expired signed link), asks the provider for the task
    /// again and records the fresh links it lists. `Err` says why there are none.
    async fn refresh_links(
        &self,
        provider: &Arc<dyn Provider>,
        job: &Job,
        records: &mut [OutputRecord],
    ) -> Step<Result<(), String>> {
        let Some(remote_id) = job.remote_id.clone() else {
            return Ok(Err("the job has no provider task id to ask again".into()));
        };
        self.note(
            job,
            "the output link was refused (expired?); asking the provider for fresh links".into(),
        )
        .await;
        let p = provider.clone();
        let outcome = self
            .call(provider, job, "re-query", |ctx| {
                let p = p.clone();
                let remote_id = remote_id.clone();
                async move { p.poll(&ctx, &remote_id).await }
            })
            .await?;
        let (outputs, request_id) = match outcome {
            Ok(PollStatus::Succeeded {
                outputs,
                request_id,
                ..
            }) => (outputs, request_id),
            Ok(PollStatus::Pending { .. }) => {
                return Ok(Err(
                    "asked again, the provider says the task is not done".into()
                ));
            }
            Ok(PollStatus::Failed(e)) => {
                return Ok(Err(format!(
                    "asked again, the provider says: {}",
                    e.message
                )));
            }
            Err(e) => {
                return Ok(Err(format!(
                    "asking the provider again failed: {}",
                    e.message
                )));
            }
        };
        let mut fresh = Vec::new();
        for (pos, rec) in records.iter_mut().enumerate() {
            // Match by the provider's name for the output, else by position.
            let found = match &rec.label {
                Some(label) => outputs.iter().find(|o| o.label.as_ref() == Some(label)),
                None => outputs.get(pos),
            };
            if let Some(o) = found
                && o.url != rec.source_url
            {
                rec.source_url = o.url.clone();
                fresh.push(rec.clone());
            }
        }
        if fresh.is_empty() {
            return Ok(Err("asked again, the provider gave the same links".into()));
        }
        let change = Transition::Relinked {
            outputs: fresh,
            request_id,
        };
        self.commit(job, change).await?;
        Ok(Ok(()))
    }

    /// A complete output already on disk (after a restart): the one recorded, or one renamed
    /// into place just before a crash. `None` means download it (again).
    async fn already_fetched(
        &self,
        job: &Job,
        rec: &OutputRecord,
        dir: &Path,
    ) -> Option<OutputFile> {
        let known = job.outputs.iter().find(|o| o.index == rec.index);
        let expected = outputs::ExpectedOutput {
            sha256: known.and_then(|o| o.sha256.clone()),
            size: known.and_then(|o| o.size),
        };
        let path = known
            .and_then(|o| o.path.as_ref())
            .map(PathBuf::from)
            .filter(|p| p.is_file())
            .or_else(|| outputs::find_existing(dir, rec.index))?;
        outputs::verify_existing(&path, rec.role, rec.format.as_deref(), &expected)
            .await
            .ok()
    }

    async fn record_output(&self, job: &Job, index: u32, f: OutputFile) -> Step<()> {
        let already = job
            .outputs
            .iter()
            .any(|o| o.index == index && o.sha256.as_deref() == Some(f.sha256.as_str()));
        if already {
            return Ok(());
        }
        self.stored(job, "record an output", || {
            self.inner
                .store
                .output_stored(job.id.clone(), index, f.clone())
        })
        .await?
        .map_err(|_| Stop::Gone)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::from_the_api;

    #[test]
    fn only_downloads_from_the_api_itself_are_its_requests() {
        let comfy = Some("http://10.0.0.5:8188");
        assert!(from_the_api(
            comfy,
            "http://10.0.0.5:8188/view?filename=a.png"
        ));
        assert!(!from_the_api(
            comfy,
            "http://10.0.0.6:8188/view?filename=a.png"
        ));
        let modelscope = Some("https://api-inference.modelscope.cn");
        assert!(!from_the_api(
            modelscope,
            "https://muse-ai.oss-cn-hangzhou.aliyuncs.com/img/a.png?Expires=1"
        ));
        assert!(!from_the_api(
            modelscope,
            "file:///home/u/.cache/genq/spool/a.png"
        ));
        assert!(from_the_api(
            Some("https://api-inference.modelscope.cn/"),
            "https://api-inference.modelscope.cn:443/files/a.png"
        ));
        assert!(from_the_api(None, "https://cdn.example/a.png"));
        assert!(from_the_api(modelscope, "not a url"));
    }
}
