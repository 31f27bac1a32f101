//! Assembles store, application and HTTP interface into the running server.

use crate::{AppState, HttpConfig};
use axum::serve::ListenerExt;
use localcloud::tasks::DockerHost;
use localcloud::{LocalCloud, LocalCloudConfig};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use switchyard_core::app::App;
use switchyard_core::app::static_sites::StaticRoots;
use switchyard_core::store::Store;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub http: HttpConfig,
    pub cloud: CloudOptions,
    /// The address people reach the dashboard at, for links in
    /// notifications; the listen address when not given.
    pub public_url: Option<String>,
    /// How `aws` environments reach AWS and run Terraform.
    pub aws: switchyard_core::app::aws::AwsSettings,
    /// Directories (absolute) below which `static:<dir>` images may live,
    /// besides the data dir's own site folders.
    pub static_roots: Vec<PathBuf>,
}

/// Which local cloud `local` environments use.
#[derive(Debug, Clone)]
pub enum CloudOptions {
    /// Started in this process, with its state under `DATA_DIR/localcloud`.
    Embedded {
        listen: SocketAddr,
        time_scale: f64,
        /// The container engine its tasks run on, if it answers.
        docker_host: DockerHost,
        /// How long the tasks of a crashed local cloud wait for it.
        task_orphan_grace: std::time::Duration,
    },
    /// A standalone `switchyard localcloud` at this URL.
    External {
        url: String,
        /// The time scale it is expected to run at (`--time-scale`), if given.
        time_scale: Option<f64>,
    },
}

/// Creates the data dir (private to its owner) and opens its database.
pub async fn open_app(data_dir: &Path) -> anyhow::Result<App> {
    create_private_dir(data_dir)?;
    let store = Store::open(data_dir).await.map_err(|e| {
        anyhow::anyhow!("cannot open the database in {}: {e:#}", data_dir.display())
    })?;
    Ok(App::new(store))
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| anyhow::anyhow!("cannot create the data dir {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// The time scale of a standalone local cloud: the one it announces, which
/// must be the `expected` one if given; the expected one when it announces
/// none; else unknown, and estimated from the steps observed.
async fn standalone_time_scale(url: &str, expected: Option<f64>) -> anyhow::Result<Option<f64>> {
    let announced =
        switchyard_core::provision::local::announced_time_scale(&reqwest::Client::new(), url).await;
    match (expected, announced) {
        (Some(expected), Some(announced)) if expected != announced => anyhow::bail!(
            "the local cloud at {url} runs at time scale {announced}, not the {expected} given \
             with --time-scale: restart the local cloud with --time-scale {expected}, or leave \
             --time-scale out to go by its scale"
        ),
        (Some(expected), None) => {
            tracing::warn!(
                url,
                time_scale = expected,
                "the local cloud announces no time scale (unreachable, or too old); \
                 going by --time-scale"
            );
            Ok(Some(expected))
        }
        (_, announced) => Ok(announced),
    }
}

/// Runs until SIGTERM or Ctrl-C, then stops accepting connections, lets
/// in-flight requests finish and returns.
pub async fn serve(options: ServeOptions) -> anyhow::Result<()> {
    serve_announcing(options, None).await
}

/// As [`serve`], and tells `bound` the address it listens on once bound:
/// with port 0, the one the system chose.
pub async fn serve_announcing(
    options: ServeOptions,
    bound: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
) -> anyhow::Result<()> {
    // Installed before anything listens, so a SIGTERM that arrives as soon as
    // the port answers still drains instead of killing the process.
    let shutdown = switchyard_runtime::shutdown_signal()?;
    // Before anything is written: a refused start leaves the data dir as it was.
    let standalone_scale = match &options.cloud {
        CloudOptions::External { url, time_scale } => {
            standalone_time_scale(url, *time_scale).await?
        }
        CloudOptions::Embedded { .. } => None,
    };
    let app = Arc::new(open_app(&options.data_dir).await?);
    if let Some(path) = app.bootstrap_admin(&options.data_dir).await? {
        println!("created user admin; its API token is in {}", path.display());
    }
    let (embedded_cloud, cloud_url, time_scale) = match &options.cloud {
        CloudOptions::Embedded {
            listen,
            time_scale,
            docker_host,
            task_orphan_grace,
        } => {
            let cloud = LocalCloud::start(LocalCloudConfig {
                listen: *listen,
                data_dir: options.data_dir.join("localcloud"),
                time_scale: *time_scale,
                docker_host: docker_host.clone(),
                task_orphan_grace: *task_orphan_grace,
            })
            .await?;
            let url = cloud.endpoint();
            (Some(cloud), url, Some(*time_scale))
        }
        CloudOptions::External { url, .. } => (None, url.clone(), standalone_scale),
    };
    println!("local cloud at {cloud_url}");
    app.fail_interrupted_stack_operations().await?;
    options.aws.terraform.check()?;
    app.set_cloud(switchyard_core::app::CloudSettings {
        local_endpoint: cloud_url,
        data_dir: options.data_dir.clone(),
        aws: options.aws.clone(),
        time_scale,
        static_roots: StaticRoots::new(&options.data_dir, &options.static_roots),
    });
    let listener = switchyard_runtime::listen::bind_remembered(
        options.listen,
        &options.data_dir.join("listen-address"),
    )
    .await?;
    let address = listener.local_addr()?;
    if let Some(bound) = bound {
        let _ = bound.send(address);
    }
    app.set_public_url(
        options
            .public_url
            .as_deref()
            .unwrap_or(&format!("http://{address}")),
    );
    let state = AppState::new(app.clone(), options.http);
    state.tracker.resume().await?;
    tokio::spawn(app.clone().run_notification_sender());
    let router = crate::router(state.clone());
    tracing::info!(%address, data_dir = %options.data_dir.display(), "switchyard serving");
    println!("switchyard listening on http://{address}");
    // Events go out as small writes; without TCP_NODELAY the second one
    // waits for the client's delayed ACK (40 ms) on a kept-alive connection.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            state.shut_down();
        })
        .await?;
    tracing::info!("drained; shutting down");
    if let Some(cloud) = embedded_cloud {
        cloud.shutdown().await;
    }
    app.store().close().await;
    Ok(())
}
