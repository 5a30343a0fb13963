//! `ozone om`: one OM daemon on real tokio: its tables in sled, its Raft log in a journal
//! (`raft_log`).
//!
//! Initialisation, as Ozone's `ozone om --init`: `--init` creates the node's directories and
//! writes `<db dir>/om/current/VERSION` (service id, node id, Raft node number); it refuses a
//! directory that already has one. Starting without `--init` requires that file and that it
//! names the same service, node and number as the configuration (a node pointed at another
//! node's directory, or a reordered `ozone.om.nodes`, is refused). On its first start a node
//! proposes the configured members as the group (openraft allows every member to do so with
//! the same members); later starts replay their log.
//!
//! SIGTERM or SIGINT: stop serving, stop Raft, flush the double buffer, exit 0. A node that
//! stops itself on a storage failure (fail-stop) exits 1.

use crate::cli::ConfigArgs;
use crate::failure::Failure;
use clap::Args;
use om_server::config::{OmConfig, OmNodeConfig, ServiceConfig, StorageDirs};
use om_server::node::OmNode;
use om_server::store::journal::JournalStore;
use om_server::store::sled::SledStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct OmArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// This node's id in ozone.om.nodes.<serviceId> (else ozone.om.node.id, else the node
    /// whose address is local).
    #[arg(long = "node-id")]
    node_id: Option<String>,
    /// Prepare this node's empty directories, then exit.
    #[arg(long)]
    init: bool,
}

/// How often the daemon looks for a fail-stop while it waits for a signal.
const FAIL_STOP_POLL: Duration = Duration::from_millis(500);

const VERSION_LAYOUT: &str = "1";

/// What `--init` records and every start checks.
fn version_text(service: &ServiceConfig, node: &OmNodeConfig) -> String {
    format!(
        "serviceId={}\nnodeId={}\nraftNodeId={}\nlayoutVersion={VERSION_LAYOUT}\n",
        service.id, node.name, node.raft_id
    )
}

fn version_path(dirs: &StorageDirs) -> PathBuf {
    dirs.db_dir.join("om").join("current").join("VERSION")
}

fn tables_path(dirs: &StorageDirs) -> PathBuf {
    dirs.db_dir.join("om.db")
}

/// An address is local when this host can listen on it (Ozone asks the network interfaces).
fn is_local(host: &str) -> bool {
    std::net::TcpListener::bind((host, 0)).is_ok()
}

pub async fn run(arguments: OmArgs) -> Result<(), Failure> {
    let config = arguments.config.load()?;
    let service = config.default_service()?;
    let node = config.local_node(service, arguments.node_id.as_deref(), is_local)?;
    logging(&node.name);
    let dirs = config.storage_dirs()?;
    if arguments.init {
        return initialise(service, node, &dirs);
    }
    check_initialised(service, node, &dirs)?;
    serve(&config, service, node, &dirs).await
}

fn storage_failure(what: &str, path: &Path, error: impl std::fmt::Display) -> Failure {
    Failure::other(
        "STORAGE_ERROR",
        format!("{what} {}: {error}", path.display()),
    )
}

fn initialise(
    service: &ServiceConfig,
    node: &OmNodeConfig,
    dirs: &StorageDirs,
) -> Result<(), Failure> {
    let version = version_path(dirs);
    if version.exists() {
        return Err(Failure::other(
            "OM_ALREADY_INITIALIZED",
            format!(
                "{} exists: this node was initialised before",
                version.display()
            ),
        ));
    }
    for directory in [version.parent().expect("has a parent"), &dirs.ratis_dir] {
        std::fs::create_dir_all(directory)
            .map_err(|error| storage_failure("cannot create", directory, error))?;
    }
    let tables = tables_path(dirs);
    SledStore::open(&tables).map_err(|error| storage_failure("cannot create", &tables, error))?;
    crate::raft_log::create(dirs)?;
    // Written last: a node whose init failed half-way can run --init again.
    std::fs::write(&version, version_text(service, node))
        .map_err(|error| storage_failure("cannot write", &version, error))?;
    println!(
        "Initialised OM {} of service {} in {}",
        node.name,
        service.id,
        dirs.db_dir.display()
    );
    Ok(())
}

fn check_initialised(
    service: &ServiceConfig,
    node: &OmNodeConfig,
    dirs: &StorageDirs,
) -> Result<(), Failure> {
    let version = version_path(dirs);
    let recorded = match std::fs::read_to_string(&version) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::other(
                "OM_NOT_INITIALIZED",
                format!(
                    "{} is missing: run `ozone om --init` for this node first",
                    version.display()
                ),
            ))
        }
        Err(error) => return Err(storage_failure("cannot read", &version, error)),
    };
    let expected = version_text(service, node);
    if recorded != expected {
        return Err(Failure::other(
            "OM_NOT_INITIALIZED",
            format!(
                "{} was initialised as `{}`, the configuration makes this node `{}`",
                version.display(),
                recorded.lines().take(3).collect::<Vec<_>>().join(" "),
                expected.lines().take(3).collect::<Vec<_>>().join(" ")
            ),
        ));
    }
    Ok(())
}

async fn serve(
    config: &OmConfig,
    service: &ServiceConfig,
    node: &OmNodeConfig,
    dirs: &StorageDirs,
) -> Result<(), Failure> {
    let open = |path: PathBuf| {
        SledStore::open(&path).map_err(|error| storage_failure("cannot open", &path, error))
    };
    let (log_store, table_store) = (crate::raft_log::open(dirs)?, open(tables_path(dirs))?);
    let started = OmNode::start(config.node_config(node), log_store, table_store).await;
    let om = started.map_err(|error| Failure::other("START_FAILED", error.to_string()))?;
    form_group(&om, config.members(service)).await?;
    tracing::info!(
        "serving service {} as {} (raft node {}): clients on {}, peers on {}",
        service.id,
        node.name,
        node.raft_id,
        node.client_address(),
        node.raft_address()
    );
    let stopped = wait_for_stop(&om).await;
    om.shutdown().await;
    let flushed = om.applier().double_buffer().flushed_index();
    tracing::info!("stopped; flushed index {flushed}");
    stopped
}

/// The first start proposes the configured members; a node with a log refuses, which is fine.
async fn form_group(
    om: &OmNode<SledStore, JournalStore>,
    members: std::collections::BTreeMap<u64, om_server::raft::NodeAddress>,
) -> Result<(), Failure> {
    use openraft::error::{InitializeError, RaftError};
    match om.raft().initialize(members).await {
        Ok(()) => {
            tracing::info!("proposed the configured members as a new group");
            Ok(())
        }
        Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
        Err(error) => Err(Failure::other(
            "START_FAILED",
            format!("cannot form the group: {error}"),
        )),
    }
}

/// Until SIGTERM or SIGINT (Ok) or a fail-stop (an error).
async fn wait_for_stop(om: &Arc<OmNode<SledStore, JournalStore>>) -> Result<(), Failure> {
    use tokio::signal::unix::{signal, SignalKind};
    let listen =
        |kind| signal(kind).map_err(|error| Failure::other("START_FAILED", error.to_string()));
    let (mut terminate, mut interrupt) = (
        listen(SignalKind::terminate())?,
        listen(SignalKind::interrupt())?,
    );
    let mut poll = tokio::time::interval(FAIL_STOP_POLL);
    loop {
        tokio::select! {
            biased;
            _ = terminate.recv() => {
                tracing::info!("SIGTERM: stopping");
                return Ok(());
            }
            _ = interrupt.recv() => {
                tracing::info!("SIGINT: stopping");
                return Ok(());
            }
            _ = poll.tick() => {
                if let Some(reason) = om.fail_stopped() {
                    tracing::error!("fail-stop: {reason}");
                    return Err(Failure::other("INTERNAL_ERROR", format!("node stopped itself: {reason}")));
                }
            }
        }
    }
}

/// Logs on stderr, filtered by RUST_LOG (default `info`), each line starting with the node id.
pub fn logging(node: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let format = NodePrefix {
        node: node.to_string(),
        inner: tracing_subscriber::fmt::format(),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .event_format(format)
        .try_init();
}

/// The default line format with `[<node id>] ` in front.
struct NodePrefix<Inner> {
    node: String,
    inner: Inner,
}

impl<Subscriber, Fields, Inner> tracing_subscriber::fmt::FormatEvent<Subscriber, Fields>
    for NodePrefix<Inner>
where
    Subscriber:
        tracing::Subscriber + for<'lookup> tracing_subscriber::registry::LookupSpan<'lookup>,
    Fields: for<'writer> tracing_subscriber::fmt::FormatFields<'writer> + 'static,
    Inner: tracing_subscriber::fmt::FormatEvent<Subscriber, Fields>,
{
    fn format_event(
        &self,
        context: &tracing_subscriber::fmt::FmtContext<'_, Subscriber, Fields>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "[{}] ", self.node)?;
        self.inner.format_event(context, writer, event)
    }
}
