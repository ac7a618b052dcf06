//! `genq jobs --json`: every job asked for as one JSON array on stdout, written page by page.
//! Each page names the next one's cursor before its jobs, so the request for the next page
//! goes out while this one is still being read, and the daemon (which reads it ahead) has it
//! ready. Piped, each job goes out as the daemon sent it; on a terminal, pretty.

use super::error::CliError;
use crate::client::{Client, ClientError, ResultText};
use genq_protocol::Job;
use genq_protocol::methods::{JobsList, LIST_MAX_LIMIT, ListParams};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::io::{IsTerminal, Write};
use tokio::task::JoinHandle;

type PageCall = JoinHandle<Result<Option<ResultText>, ClientError>>;

/// Up to `limit` jobs matching `params`.
pub async fn print(client: &Client, mut params: ListParams, limit: u32) -> Result<(), CliError> {
    let mut out = JsonArray::new(std::io::stdout().is_terminal());
    let mut shown = 0u32;
    params.limit = Some(limit.min(LIST_MAX_LIMIT));
    let mut call = Some(page_call(client, params.clone()));
    while let Some(pending) = call.take() {
        let raw = pending
            .await
            .map_err(|e| CliError::Failed(format!("the listing stopped: {e}")))??;
        let text = raw.as_ref().map_or("null", ResultText::get);
        let asked = params.limit.unwrap_or(LIST_MAX_LIMIT);
        let seed = PageSeed {
            // A page with a next cursor is a full page: the next one is known to be wanted
            // before this one's jobs are read.
            on_cursor: |cursor: &str| {
                let after = shown + asked;
                if after < limit {
                    params.cursor = Some(cursor.to_string());
                    params.limit = Some((limit - after).min(LIST_MAX_LIMIT));
                    call = Some(page_call(client, params.clone()));
                }
            },
        };
        let jobs = seed
            .deserialize(&mut serde_json::Deserializer::from_str(text))
            .map_err(|e| ClientError::BadReply(e.to_string()))?;
        shown += jobs.len() as u32;
        out.items(&jobs)?;
    }
    out.end()
}

fn page_call(client: &Client, params: ListParams) -> PageCall {
    let client = client.clone();
    tokio::spawn(async move { client.call_raw::<JobsList>(params).await })
}

/// Reads a `JobPage` whose jobs stay JSON text, telling `on_cursor` the next page's cursor
/// as soon as it is read.
struct PageSeed<F> {
    on_cursor: F,
}

impl<'de, F: FnMut(&str)> DeserializeSeed<'de> for PageSeed<F> {
    type Value = Vec<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(&str)> Visitor<'de> for PageSeed<F> {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a page of jobs")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut jobs = None;
        while let Some(key) = map.next_key::<&str>()? {
            match key {
                "next_cursor" => {
                    if let Some(cursor) = map.next_value::<Option<&str>>()? {
                        (self.on_cursor)(cursor);
                    }
                }
                "jobs" => jobs = Some(map.next_value::<Vec<&RawValue>>()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        jobs.ok_or_else(|| serde::de::Error::missing_field("jobs"))
    }
}

/// A JSON array written to stdout an item at a time.
struct JsonArray {
    out: std::io::BufWriter<std::io::Stdout>,
    pretty: bool,
    empty: bool,
}

impl JsonArray {
    fn new(pretty: bool) -> JsonArray {
        JsonArray {
            out: std::io::BufWriter::with_capacity(1 << 16, std::io::stdout()),
            pretty,
            empty: true,
        }
    }

    fn items(&mut self, jobs: &[&RawValue]) -> Result<(), CliError> {
        for job in jobs {
            let sep: &[u8] = match (self.empty, self.pretty) {
                (true, true) => b"[\n",
                (true, false) => b"[",
                (false, true) => b",\n",
                (false, false) => b",",
            };
            self.out.write_all(sep).map_err(write_failed)?;
            self.empty = false;
            if self.pretty {
                // Indented as an item of the whole array is.
                let job: Job = serde_json::from_str(job.get())
                    .map_err(|e| ClientError::BadReply(e.to_string()))?;
                let text = serde_json::to_string_pretty(&job)
                    .map_err(|e| CliError::Failed(format!("cannot write JSON: {e}")))?;
                self.out
                    .write_all(format!("  {}", text.replace('\n', "\n  ")).as_bytes())
                    .map_err(write_failed)?;
            } else {
                self.out
                    .write_all(job.get().as_bytes())
                    .map_err(write_failed)?;
            }
        }
        Ok(())
    }

    fn end(mut self) -> Result<(), CliError> {
        let end: &[u8] = match (self.empty, self.pretty) {
            (true, _) => b"[]\n",
            (false, true) => b"\n]\n",
            (false, false) => b"]\n",
        };
        self.out.write_all(end).map_err(write_failed)?;
        self.out.flush().map_err(write_failed)
    }
}

fn write_failed(e: std::io::Error) -> CliError {
    CliError::Failed(format!("cannot write the listing: {e}"))
}
