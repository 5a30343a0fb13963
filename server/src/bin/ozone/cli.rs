//! The command line (clap) and where the configuration comes from.

use crate::failure::{Failure, EXIT_CODES_HELP};
use clap::{Args, Parser, Subcommand};
use om_server::config::{OmConfig, SiteConfig};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "ozone",
    about = "Ozone Manager (metadata only: this deployment has no datanodes) — daemon, shell and admin",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run an Ozone Manager daemon (or prepare its directories with --init).
    #[command(long_about = DAEMON_HELP)]
    Om(crate::daemon::OmArgs),
    /// Volume, bucket and key operations (`ozone sh volume create o3://cluster1/vol`).
    #[command(after_help = EXIT_CODES_HELP)]
    Sh(crate::shell::ShArgs),
    /// Administration of an OM service.
    #[command(after_help = EXIT_CODES_HELP)]
    Admin(crate::admin::AdminArgs),
}

const DAEMON_HELP: &str = "Run an Ozone Manager daemon of the service in ozone-site.xml.

Before the first start, `ozone om --init` creates the node's directories (ozone.om.db.dirs and \
ozone.om.ratis.storage.dir, else under ozone.metadata.dirs) and records the service id, node id \
and Raft node number in <db dir>/om/current/VERSION; it refuses a directory initialised before \
(OM_ALREADY_INITIALIZED). A start without that file, or with one naming another node, is refused \
(OM_NOT_INITIALIZED). On its first start each node proposes the configured members as the \
group. SIGTERM or SIGINT flushes the double buffer and exits 0; a node that stops itself on a \
storage failure exits 1. Logs go to stderr, filtered by RUST_LOG (default info), each line \
prefixed with the node id.";

/// Where the configuration comes from: `--config FILE`, else `$OZONE_CONF_DIR/ozone-site.xml`,
/// else `./ozone-site.xml`; then every `--conf KEY=VALUE` in order.
#[derive(Args, Debug, Clone, Default)]
pub struct ConfigArgs {
    /// ozone-site.xml to read.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override one key (repeatable): --conf ozone.om.node.id=om1.
    #[arg(long = "conf", global = true, value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

impl ConfigArgs {
    pub fn site_path(&self) -> PathBuf {
        if let Some(path) = &self.config {
            return path.clone();
        }
        #[allow(clippy::disallowed_methods)] // the CLI's documented lookup, outside simulated code
        let directory = std::env::var_os("OZONE_CONF_DIR");
        match directory {
            Some(directory) => PathBuf::from(directory).join("ozone-site.xml"),
            None => PathBuf::from("ozone-site.xml"),
        }
    }

    /// The typed configuration, host names resolved.
    pub fn load(&self) -> Result<OmConfig, Failure> {
        let mut site = SiteConfig::read(&self.site_path())?;
        for assignment in &self.overrides {
            site.apply_override(assignment)?;
        }
        let mut config = OmConfig::from_site(&site)?;
        // Before any log subscriber exists (the daemon's names the node): say them here too.
        for warning in &config.warnings {
            eprintln!("WARNING: {warning}");
        }
        config.resolve_hosts(resolve_host)?;
        Ok(config)
    }
}

/// DNS for host names in the configuration (IP addresses are used as they are).
fn resolve_host(host: &str) -> Result<String, String> {
    use std::net::ToSocketAddrs;
    let mut addresses = (host, 0)
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve: {error}"))?;
    addresses
        .next()
        .map(|address| address.ip().to_string())
        .ok_or_else(|| "resolves to no address".to_string())
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Om(arguments) => crate::daemon::run(arguments).await,
        Command::Sh(arguments) => crate::shell::run(arguments).await,
        Command::Admin(arguments) => crate::admin::run(arguments).await,
    }
}
