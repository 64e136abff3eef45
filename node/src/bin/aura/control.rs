//! The local control socket of `aura run`: `<data dir>/control.sock`. Other
//! `aura` commands for the same data dir send their arguments here (one JSON
//! line) and get the command's [`Output`] back, so they work while the node
//! holds the store. The socket is created mode 0600 inside the data dir.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{Context, Result};
use aura_node::Node;
use clap::Parser;
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
    sync::Semaphore,
};

use crate::{
    cli::Cli,
    exec::{exec, Mode, Output},
};

/// Largest request accepted (arguments of one command).
const MAX_REQUEST: u64 = 64 * 1024;
/// Largest reply read back (a GPX export can be big).
const MAX_REPLY: u64 = 64 * 1024 * 1024;
/// Commands served at once.
const CONCURRENT: usize = 8;

#[derive(Debug, Serialize, Deserialize)]
struct Request {
    args: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    Ok(Output),
    Err(String),
}

/// The socket path for `data_dir`.
pub(crate) fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control.sock")
}

/// Sends `args` to a running `aura run`; `Ok(None)` when none is listening.
pub(crate) async fn try_send(data_dir: &Path, args: Vec<String>) -> Result<Option<Result<Output>>> {
    let Ok(mut stream) = UnixStream::connect(socket_path(data_dir)).await else {
        return Ok(None);
    };
    let mut line = serde_json::to_vec(&Request { args })?;
    line.push(b'\n');
    stream.write_all(&line).await?;
    stream.shutdown().await?;
    let mut buf = Vec::new();
    (&mut stream).take(MAX_REPLY).read_to_end(&mut buf).await?;
    let reply: Reply = serde_json::from_slice(&buf).context(
        "the running `aura run` sent an unreadable reply; is it the same aura version? restart it",
    )?;
    Ok(Some(match reply {
        Reply::Ok(o) => Ok(o),
        Reply::Err(e) => Err(anyhow::anyhow!(e)),
    }))
}

/// Binds the socket (replacing a stale one) and serves commands until the node stops.
pub(crate) fn serve(data_dir: &Path, node: Node) -> Result<PathBuf> {
    let path = socket_path(data_dir);
    if std::os::unix::net::UnixStream::connect(&path).is_ok() {
        anyhow::bail!(
            "another `aura run` is already serving {}; stop it first or use another --data-dir",
            data_dir.display()
        );
    }
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)
        .with_context(|| format!("cannot create control socket {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    let slots = Arc::new(Semaphore::new(CONCURRENT));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let node = node.clone();
            tokio::spawn(async move {
                if let Err(e) = handle(stream, &node).await {
                    tracing::warn!(error = %e, "control socket request failed");
                }
                drop(permit);
            });
        }
    });
    Ok(path)
}

async fn handle(stream: UnixStream, node: &Node) -> Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut line = Vec::new();
    BufReader::new(rd.take(MAX_REQUEST))
        .read_until(b'\n', &mut line)
        .await?;
    let reply = match serde_json::from_slice::<Request>(&line) {
        Err(e) => {
            tracing::warn!(error = %e, bytes = line.len(), "malformed control request");
            Reply::Err(format!(
                "malformed control request ({e}); use the `aura` binary of the same version"
            ))
        }
        Ok(req) => {
            let argv = std::iter::once("aura".to_owned()).chain(req.args);
            match Cli::try_parse_from(argv) {
                Err(e) => Reply::Err(e.to_string()),
                Ok(cli) => match exec(node, Mode::Daemon, cli.cmd).await {
                    Ok(o) => Reply::Ok(o),
                    Err(e) => Reply::Err(crate::report(&e)),
                },
            }
        }
    };
    wr.write_all(&serde_json::to_vec(&reply)?).await?;
    wr.shutdown().await?;
    Ok(())
}
