//! Starting and stopping the service: the service key, the router on a
//! listener passed in, graceful shutdown, and [`spawn_local`] for an
//! in-process service on a loopback port.
use std::{future::Future, io::Write, path::Path, sync::Arc};

use ed25519_dalek::SigningKey;
use rand::rngs::OsRng;

use crate::{
    clock::Clock,
    config::Config,
    http::router::router,
    service::{Service, StartError},
};

/// Failure to read or create the service key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// File system error.
    #[error("service key file: {0}")]
    Io(#[from] std::io::Error),
    /// The file does not hold 64 hex digits.
    #[error("service key file is not 64 hex digits")]
    Malformed,
}

/// Reads the service's ed25519 key (hex seed) from `path`, or creates it
/// atomically with mode 0600. `AURA_BILLING_SERVICE_KEY` (hex) overrides.
pub fn load_or_create_key(path: &Path) -> Result<SigningKey, KeyError> {
    let parse = |s: &str| {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut b).map_err(|_| KeyError::Malformed)?;
        Ok(SigningKey::from_bytes(&b))
    };
    if let Ok(v) = std::env::var("AURA_BILLING_SERVICE_KEY") {
        return parse(&v);
    }
    match std::fs::read_to_string(path) {
        Ok(s) => return parse(&s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let key = SigningKey::generate(&mut OsRng);
    let tmp = path.with_extension("tmp");
    {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut f = o.open(&tmp)?;
        f.write_all(hex::encode(key.to_bytes()).as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(key)
}

/// Starts the service from settings: key from `data_dir/service_key.hex`.
pub async fn start(config: Config, clock: Clock) -> Result<Arc<Service>, ServeError> {
    std::fs::create_dir_all(&config.data_dir).map_err(KeyError::from)?;
    let key = load_or_create_key(&config.data_dir.join("service_key.hex"))?;
    Ok(Service::start(config, key, clock).await?)
}

/// Failure to start or run the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The service key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Opening the database or seeding.
    #[error(transparent)]
    Start(#[from] StartError),
    /// Dev mode accepts a public webhook secret: loopback only.
    #[error("dev mode serves on loopback only, not {0}")]
    DevModeNotLoopback(std::net::SocketAddr),
    /// The listener failed.
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves `svc` on `listener` until `shutdown` resolves, then finishes
/// in-flight requests and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    svc: Arc<Service>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = listener.local_addr()?;
    if svc.config.dev_mode && !addr.ip().is_loopback() {
        return Err(ServeError::DevModeNotLoopback(addr));
    }
    tracing::info!(%addr, backend = svc.store.backend(), mode = ?svc.config.commit_mode, "aura-billing serving");
    let app = router(svc).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("aura-billing stopped");
    Ok(())
}

/// A service started by [`spawn_local`], serving on a loopback port of this
/// process. Dropping it stops the server (in-flight requests finish).
#[derive(Debug)]
pub struct LocalServer {
    /// Base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    /// The service's ed25519 public key (hex), what peers pin to verify receipts.
    pub service_key: String,
    /// The running service (admin operations, store, metrics).
    pub service: Arc<Service>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ServeError>>>,
}

impl LocalServer {
    /// Stops the server and waits until in-flight requests have finished.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(t) => t.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts the service from `config` (as [`start`], system clock) and serves it
/// on `127.0.0.1:0` in a spawned task: the in-process ledger of tests, the
/// demo and the bench. Needs a tokio runtime.
pub async fn spawn_local(config: Config) -> Result<LocalServer, ServeError> {
    let svc = start(config, Clock::system()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, svc.clone(), async move {
        let _ = stopped.await;
    }));
    Ok(LocalServer {
        url,
        service_key: svc.public_key_hex(),
        service: svc,
        stop: Some(stop),
        task: Some(task),
    })
}
