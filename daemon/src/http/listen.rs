//! The listening side: binds `[http] listen`, binds again when a reload changes it, and
//! serves each connection under the connection cap with a deadline for request headers, so
//! idle or slow clients cannot hold the daemon.

use super::limits::HEADER_TIMEOUT;
use super::routes;
use super::signed::Signer;
use super::state::HttpState;
use crate::server::ServerState;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Runs the HTTP API for as long as the daemon runs, following the config; `address` says
/// where it listens now (for `daemon.status`).
pub fn spawn(server: Arc<ServerState>, address: watch::Sender<Option<String>>) {
    let state = Arc::new(HttpState {
        server,
        signer: Signer::new(),
    });
    tokio::spawn(follow_config(state, address));
}

/// What is being served now.
struct Serving {
    settings: (SocketAddr, usize),
    stop: CancellationToken,
    task: JoinHandle<()>,
}

async fn follow_config(state: Arc<HttpState>, address: watch::Sender<Option<String>>) {
    let engine = state.server.engine.clone();
    let shutdown = state.server.shutdown.clone();
    let mut applied = engine.config_applied();
    let mut serving: Option<Serving> = None;
    loop {
        let http = engine.config().http.clone();
        let wanted = http.listen.map(|a| (a, http.max_connections));
        if serving.as_ref().map(|s| s.settings) != wanted {
            if let Some(old) = serving.take() {
                old.stop.cancel();
                let _ = old.task.await;
                address.send_replace(None);
                tracing::info!("HTTP API stopped listening on {}", old.settings.0);
            }
            if let Some(settings) = wanted {
                serving = start(&state, settings).await;
                address.send_replace(serving.as_ref().map(|s| s.settings.0.to_string()));
            }
        }
        tokio::select! {
            changed = applied.changed() => if changed.is_err() { break },
            _ = shutdown.cancelled() => break,
        }
    }
    if let Some(s) = serving {
        s.stop.cancel();
        let _ = s.task.await;
    }
}

async fn start(state: &Arc<HttpState>, (addr, max): (SocketAddr, usize)) -> Option<Serving> {
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(
                "HTTP API: cannot listen on {addr}: {e}; it stays off until the config changes"
            );
            return None;
        }
    };
    let bound = listener.local_addr().unwrap_or(addr);
    if bound.ip().is_loopback() {
        tracing::info!("HTTP API listening on http://{bound}");
    } else {
        tracing::warn!(
            "HTTP API listening on http://{bound}, which is NOT a loopback address: other \
             machines can reach it; every route but health needs a bearer token, and nothing \
             is encrypted (put a TLS proxy in front for a network)"
        );
    }
    let stop = state.server.shutdown.child_token();
    let task = tokio::spawn(accept_loop(listener, state.clone(), max, stop.clone()));
    Some(Serving {
        settings: (addr, max),
        stop,
        task,
    })
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<HttpState>,
    max: usize,
    stop: CancellationToken,
) {
    let router = routes::router(state.clone());
    let slots = Arc::new(Semaphore::new(max));
    loop {
        // At the cap, stop accepting: new clients wait in the listen backlog.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stop.cancelled() => return,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.cancelled() => return,
        };
        let (stream, _peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors or similar: back off instead of spinning.
                tracing::warn!("HTTP API: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        // Connections already open outlive a change of address; only shutdown ends them.
        let shutdown = state.server.shutdown.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                r = conn => if let Err(e) = r { tracing::debug!("HTTP connection: {e}") },
                _ = shutdown.cancelled() => {}
            }
            drop(permit);
        });
    }
}
