//! Progress from ComfyUI's websocket `/ws?clientId=`: `progress` events (`value` of `max`
//! for the running node of a prompt) become the prompt's progress. The socket is only a
//! hint: a dropped socket loses events (there is no replay), and the queue and history stay
//! the truth; it is opened again with a growing pause.

use futures::StreamExt;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Latest progress per prompt id, 0–100.
pub type Progress = Arc<Mutex<HashMap<String, u8>>>;

/// Listens on `base_url`'s websocket as `client_id` for as long as `progress` is alive.
pub async fn listen(
    base_url: String,
    client_id: String,
    progress: Weak<Mutex<HashMap<String, u8>>>,
) {
    let url = format!(
        "{}/ws?clientId={client_id}",
        base_url.replacen("http", "ws", 1)
    );
    let mut pause = Duration::from_millis(200);
    while progress.strong_count() > 0 {
        if let Ok((mut socket, _)) = tokio_tungstenite::connect_async(url.as_str()).await {
            pause = Duration::from_millis(200);
            while let Some(Ok(message)) = socket.next().await {
                let Some(all) = progress.upgrade() else {
                    return;
                };
                if let Message::Text(text) = message {
                    record(&all, &text);
                }
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}

/// Records one text message's progress, if it is a `progress` event.
fn record(progress: &Mutex<HashMap<String, u8>>, text: &str) {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return;
    };
    if v["type"] != "progress" {
        return;
    }
    let data = &v["data"];
    let (Some(id), Some(value), Some(max)) = (
        data["prompt_id"].as_str(),
        data["value"].as_f64(),
        data["max"].as_f64(),
    ) else {
        return;
    };
    if max > 0.0 {
        let percent = (value / max * 100.0).clamp(0.0, 99.0) as u8;
        if let Ok(mut all) = progress.lock() {
            all.insert(id.to_string(), percent);
        }
    }
}
