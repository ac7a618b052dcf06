//! `genq dial-stdio`: the far end of a connection over ssh. It connects to this home's
//! daemon (starting it when allowed, as any command does) and copies bytes both ways
//! between its stdin/stdout and the socket until either side closes. The daemon sees an
//! ordinary local connection from this user, so its peer check is unchanged.

use super::{ClientError, open_stream, start_daemon};
use genq_protocol::Paths;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Relays stdin/stdout to the daemon's socket until one side closes.
pub async fn dial_stdio(paths: &Paths, autostart: bool) -> Result<(), ClientError> {
    let stream = match open_stream(paths).await {
        Err(ClientError::NotRunning { .. }) if autostart => {
            start_daemon(paths).await?;
            open_stream(paths).await?
        }
        other => other?,
    };
    let (from_daemon, to_daemon) = tokio::io::split(stream);
    tokio::select! {
        _ = pump(tokio::io::stdin(), to_daemon) => {}
        _ = pump(from_daemon, tokio::io::stdout()) => {}
    }
    Ok(())
}

/// Copies until the reader ends or the writer fails, flushing after every read so that a
/// reply never waits in a buffer.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        to.write_all(&buf[..n]).await?;
        to.flush().await?;
    }
}
