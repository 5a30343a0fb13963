//! Three `ozone om` processes on 127.0.0.1 with free ports, their config file, and the CLI.

use om_server::admin::{AdminRequest, AdminResponse, ClientAnswer, ClientMessage, NodeRole, Role};
use om_server::transport::{RpcClient, TransportLimits};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;
use tokio::time::Instant;

pub const BINARY: &str = env!("CARGO_BIN_EXE_ozone");

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (bounded) until `ready` holds, polling; panics naming `what` after `bound`.
pub async fn wait_until<Ready: std::future::Future<Output = bool>>(
    what: &str,
    bound: Duration,
    mut ready: impl FnMut() -> Ready,
) {
    let deadline = Instant::now() + bound;
    while !ready().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {bound:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub struct OmProcess {
    pub name: String,
    pub client_port: u16,
    pub raft_port: u16,
    pub child: Option<Child>,
}

impl OmProcess {
    pub fn client_address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.client_port))
    }

    pub fn raft_address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.raft_port))
    }
}

pub struct Cluster {
    pub directory: PathBuf,
    pub site: PathBuf,
    pub nodes: Vec<OmProcess>,
}

impl Cluster {
    /// Writes the config of a 3-node service `cluster1` and initialises every node.
    pub fn new(name: &str) -> Cluster {
        let directory = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("ozone-processes-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        let nodes: Vec<OmProcess> = (1..=3)
            .map(|n| OmProcess {
                name: format!("om{n}"),
                client_port: free_port(),
                raft_port: free_port(),
                child: None,
            })
            .collect();
        let site = directory.join("ozone-site.xml");
        std::fs::write(&site, site_xml(&nodes)).unwrap();
        let cluster = Cluster {
            directory,
            site,
            nodes,
        };
        for node in 0..3 {
            let output = cluster.om(node, &["--init"]);
            assert!(output.status.success(), "init: {}", text(&output.stderr));
        }
        cluster
    }

    fn data_override(&self, node: usize) -> String {
        let data = self.directory.join(&self.nodes[node].name);
        format!("ozone.metadata.dirs={}", data.display())
    }

    /// Runs `ozone om` for `node` in the foreground (init, refusals).
    pub fn om(&self, node: usize, extra: &[&str]) -> Output {
        let mut command = Command::new(BINARY);
        command.args(["om", "--config"]).arg(&self.site);
        command.args([
            "--node-id",
            &self.nodes[node].name,
            "--conf",
            &self.data_override(node),
        ]);
        command.args(extra).output().unwrap()
    }

    /// Starts `node`'s daemon in the background, logging to `<name>.log`.
    pub fn start(&mut self, node: usize) {
        assert!(self.nodes[node].child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(
                self.directory
                    .join(format!("{}.log", self.nodes[node].name)),
            )
            .unwrap();
        let mut command = Command::new(BINARY);
        command.args(["om", "--config"]).arg(&self.site);
        command.args([
            "--node-id",
            &self.nodes[node].name,
            "--conf",
            &self.data_override(node),
        ]);
        command.env("RUST_LOG", "warn");
        let child = command.stdout(Stdio::null()).stderr(log).spawn().unwrap();
        self.nodes[node].child = Some(child);
    }

    pub fn start_all(&mut self) {
        for node in 0..self.nodes.len() {
            self.start(node);
        }
    }

    /// SIGKILL: no flush, no goodbye.
    pub fn kill(&mut self, node: usize) {
        let mut child = self.nodes[node].child.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// `signal` (SIGTERM, SIGINT) and the exit status (the daemon must stop, bounded).
    pub fn terminate(&mut self, node: usize, signal: i32) -> std::process::ExitStatus {
        let mut child = self.nodes[node].child.take().expect("running");
        // SAFETY: kill(2) on a child this test started and has not reaped.
        unsafe { libc::kill(child.id() as i32, signal) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} ignored signal {signal}",
                self.nodes[node].name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs the CLI (`ozone sh ...`, `ozone admin ...`) with this cluster's config.
    pub fn cli(&self, arguments: &[&str]) -> Output {
        Command::new(BINARY)
            .args(arguments)
            .arg("--config")
            .arg(&self.site)
            .output()
            .unwrap()
    }

    /// The CLI, which must succeed; its stdout.
    pub fn cli_ok(&self, arguments: &[&str]) -> String {
        let output = self.cli(arguments);
        assert!(
            output.status.success(),
            "{arguments:?}: {}",
            text(&output.stderr)
        );
        text(&output.stdout)
    }

    /// Each running node's role (None when it does not answer).
    pub async fn roles(&self) -> Vec<Option<NodeRole>> {
        let mut roles = Vec::new();
        for node in &self.nodes {
            roles.push(role_of(node.client_address()).await);
        }
        roles
    }

    /// The index of the node that is leader, once one is and every answering node follows it.
    pub async fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(leader) = agreed_leader(&self.roles().await) {
                return leader;
            }
            assert!(Instant::now() < deadline, "no agreed leader within 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until all three nodes answer and have applied the same index, at least `index`.
    pub async fn converged(&self, index: u64) {
        wait_until(
            "every node applied the same index",
            Duration::from_secs(30),
            || async {
                let roles = self.roles().await;
                let applied: Vec<u64> = roles
                    .iter()
                    .flatten()
                    .map(|role| role.applied_index)
                    .collect();
                applied.len() == 3 && applied.iter().all(|a| *a == applied[0] && *a >= index)
            },
        )
        .await;
    }
}

fn agreed_leader(roles: &[Option<NodeRole>]) -> Option<usize> {
    let leader = roles
        .iter()
        .position(|role| role.as_ref().is_some_and(|role| role.role == Role::Leader))?;
    let id = roles[leader].as_ref()?.node_id;
    roles
        .iter()
        .flatten()
        .all(|role| role.leader == Some(id))
        .then_some(leader)
}

async fn role_of(address: SocketAddr) -> Option<NodeRole> {
    let mut client: RpcClient<ClientMessage, ClientAnswer> =
        RpcClient::new(address, &TransportLimits::default());
    let answer = client
        .call(
            &ClientMessage::Admin(AdminRequest::Role),
            Duration::from_secs(1),
        )
        .await;
    match answer {
        Ok(ClientAnswer::Admin(Ok(AdminResponse::Role(role)))) => Some(role),
        _ => None,
    }
}

impl Drop for Cluster {
    /// Stops what is still running; the directory (data and logs) stays only after a failure.
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!("data and logs kept in {}", self.directory.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.directory);
        }
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn site_xml(nodes: &[OmProcess]) -> String {
    let mut properties = vec![
        ("ozone.om.service.ids".to_string(), "cluster1".to_string()),
        (
            "ozone.om.nodes.cluster1".to_string(),
            "om1,om2,om3".to_string(),
        ),
        // A follower reads after a ReadIndex round: reading each node proves what it holds.
        (
            "ozone.om.ha.raft.server.read.option".to_string(),
            "LINEARIZABLE".to_string(),
        ),
        (
            "ozone.client.wait.between.retries.millis".to_string(),
            "50".to_string(),
        ),
        (
            "ozone.client.failover.max.attempts".to_string(),
            "400".to_string(),
        ),
    ];
    for node in nodes {
        properties.push((
            format!("ozone.om.address.cluster1.{}", node.name),
            format!("127.0.0.1:{}", node.client_port),
        ));
        properties.push((
            format!("ozone.om.ratis.port.cluster1.{}", node.name),
            node.raft_port.to_string(),
        ));
    }
    let body: String = properties
        .iter()
        .map(|(name, value)| {
            format!("  <property><name>{name}</name><value>{value}</value></property>\n")
        })
        .collect();
    format!("<?xml version=\"1.0\"?>\n<configuration>\n{body}</configuration>\n")
}

/// The site file's path as a string, for CLI arguments.
pub fn path_text(path: &Path) -> String {
    path.display().to_string()
}
