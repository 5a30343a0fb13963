//! The `ozone` binary as an operator runs it: three `ozone om` processes on 127.0.0.1, the CLI
//! through the service id, the leader killed with SIGKILL twenty times under a write loop (no
//! acknowledged write lost, every node holds every one), SIGTERM and restart of all, and bad
//! input of every kind refused clearly with nothing changed.
#![cfg(not(madsim))]

#[path = "ozone_processes/cluster.rs"]
mod cluster;

use cluster::{path_text, text, wait_until, Cluster, BINARY};
use om_server::client::OmClient;
use om_server::config::{OmConfig, SiteConfig};
use om_server::om::{OmRequest, OmResponse, Replication};
use om_server::transport::TransportLimits;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The tests start clusters of their own; one at a time keeps the 2-core machine honest.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const ROUNDS: usize = 20;

/// A write loop through the service: `put` = open + commit; acknowledged = commit answered OK.
struct Writer {
    acked: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<String>>,
}

impl Writer {
    fn start(cluster: &Cluster, prefix: String, writes_max: usize, bound: Duration) -> Writer {
        let site = SiteConfig::read(&cluster.site).unwrap();
        let config = OmConfig::from_site(&site).unwrap();
        let service = config.default_service().unwrap();
        let mut client = OmClient::new(
            &config.client_nodes(service).unwrap(),
            config.failover,
            &TransportLimits::default(),
        );
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (acked_by_task, stop_seen) = (acked.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let deadline = Instant::now() + bound;
            let mut surprises = Vec::new();
            for n in 0..writes_max {
                if stop_seen.load(Ordering::SeqCst) || Instant::now() > deadline {
                    break;
                }
                let key = format!("{prefix}{n:04}");
                match put(&mut client, &key).await {
                    Ok(true) => acked_by_task.lock().unwrap().push(key),
                    Ok(false) => {} // unknown outcome: not acknowledged
                    Err(surprise) => surprises.push(format!("{key}: {surprise}")),
                }
            }
            surprises
        });
        Writer { acked, stop, task }
    }

    fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    async fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        let surprises = self.task.await.unwrap();
        assert!(
            surprises.is_empty(),
            "domain errors in the write loop: {surprises:?}"
        );
        let acked = self.acked.lock().unwrap().clone();
        acked
    }
}

/// `Ok(true)`: acknowledged; `Ok(false)`: no answer within the budget (may or may not exist).
async fn put(client: &mut OmClient, key: &str) -> Result<bool, String> {
    let open = OmRequest::OpenKey {
        volume: "vol".into(),
        bucket: "bucket".into(),
        key: key.into(),
        size: 10,
        replication: Replication::RatisThree,
        metadata: Default::default(),
    };
    let open_id = match client.call(open).await {
        Ok(Ok(OmResponse::KeyOpened { open_id, .. })) => open_id,
        Ok(other) => return Err(format!("open: {other:?}")),
        Err(_) => return Ok(false),
    };
    let commit = OmRequest::CommitKey {
        volume: "vol".into(),
        bucket: "bucket".into(),
        key: key.into(),
        open_id,
        size: 10,
    };
    match client.call(commit).await {
        Ok(Ok(OmResponse::Done)) => Ok(true),
        Ok(other) => Err(format!("commit: {other:?}")),
        Err(_) => Ok(false),
    }
}

/// The keys under `prefix` as node `node` itself serves them (`o3://127.0.0.1:port/...`, a
/// linearizable read on that node), once it answers.
async fn keys_on(cluster: &Cluster, node: usize, prefix: &str) -> BTreeSet<String> {
    let uri = format!(
        "o3://127.0.0.1:{}/vol/bucket",
        cluster.nodes[node].client_port
    );
    let arguments = [
        "sh", "key", "list", &uri, "--prefix", prefix, "--length", "100000", "--json",
    ];
    let mut listed = None;
    wait_until(
        "the node answers a list of its keys",
        Duration::from_secs(20),
        || {
            let output = cluster.cli(&arguments);
            let answered = output.status.success();
            if answered {
                listed = Some(output.stdout);
            }
            async move { answered }
        },
    )
    .await;
    let keys: Vec<serde_json::Value> = serde_json::from_slice(&listed.unwrap()).unwrap();
    keys.iter()
        .map(|key| key["name"].as_str().unwrap().to_string())
        .collect()
}

async fn assert_every_node_holds(cluster: &Cluster, prefix: &str, acked: &[String]) {
    for node in 0..3 {
        let held = keys_on(cluster, node, prefix).await;
        let lost: Vec<&String> = acked.iter().filter(|key| !held.contains(*key)).collect();
        assert!(
            lost.is_empty(),
            "{} lost acknowledged writes: {lost:?}",
            cluster.nodes[node].name
        );
    }
}

async fn wait_for_acks(writer: &Writer, count: usize, what: &str) {
    wait_until(what, Duration::from_secs(30), || {
        let reached = writer.acked_count() >= count;
        async move { reached }
    })
    .await;
}

/// One round: writes, SIGKILL of the leader, writes through failover, restart, catch-up.
async fn kill_round(cluster: &mut Cluster, round: usize) -> Vec<String> {
    let prefix = format!("r{round:02}-");
    let writer = Writer::start(cluster, prefix.clone(), 400, Duration::from_secs(60));
    wait_for_acks(&writer, 3, "writes before the kill").await;
    let leader = cluster.leader().await;
    cluster.kill(leader);
    let before = writer.acked_count();
    wait_for_acks(&writer, before + 3, "writes acknowledged after failover").await;
    cluster.start(leader);
    wait_for_acks(&writer, before + 6, "writes while the old leader restarts").await;
    let acked = writer.finish().await;
    let leader = cluster.leader().await;
    let index = cluster.roles().await[leader]
        .as_ref()
        .unwrap()
        .applied_index;
    cluster.converged(index).await;
    assert_every_node_holds(cluster, &prefix, &acked).await;
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_killed_twenty_times_loses_no_acknowledged_write() {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::new("kill");
    cluster.start_all();
    cluster.leader().await;
    cluster.cli_ok(&["sh", "volume", "create", "o3://cluster1/vol"]);
    cluster.cli_ok(&["sh", "bucket", "create", "ofs://cluster1/vol/bucket"]);
    let file = cluster.directory.join("content.txt");
    std::fs::write(&file, b"0123456789").unwrap();
    cluster.cli_ok(&[
        "sh",
        "key",
        "put",
        "o3fs://bucket.vol.cluster1/first",
        &path_text(&file),
    ]);

    let started = Instant::now();
    let mut acked = vec!["first".to_string()];
    for round in 0..ROUNDS {
        acked.extend(kill_round(&mut cluster, round).await);
    }
    let kill_rounds = started.elapsed();

    // SIGTERM (SIGINT for one) stops each daemon cleanly; after a restart of all, nothing is
    // missing.
    for (node, signal) in [(0, libc::SIGINT), (1, libc::SIGTERM), (2, libc::SIGTERM)] {
        let status = cluster.terminate(node, signal);
        assert!(
            status.success(),
            "{} exited {status} on SIGTERM",
            cluster.nodes[node].name
        );
    }
    cluster.start_all();
    cluster.leader().await;
    assert_every_node_holds(&cluster, "", &acked).await;
    eprintln!(
        "{ROUNDS} leader kills: {} acknowledged writes, none lost, in {kill_rounds:?}; total {:?}",
        acked.len(),
        started.elapsed()
    );
}

/// A connection that sends `bytes` must be closed by the server, within a bound.
fn assert_closed_after(address: std::net::SocketAddr, bytes: &[u8]) {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let mut buffer = [0u8; 64];
    let read = stream.read(&mut buffer);
    assert!(
        matches!(read, Ok(0))
            || matches!(&read, Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset),
        "{address}: the server kept a connection that sent garbage: {read:?}"
    );
}

/// `ozone` with a config file of the test's choosing.
fn ozone_with_config(config: &std::path::Path, arguments: &[&str]) -> std::process::Output {
    Command::new(BINARY)
        .args(arguments)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

fn assert_refused(output: &std::process::Output, exit_code: i32, first_words: &str) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(exit_code), "{stderr}");
    let line = stderr.lines().last().unwrap_or("");
    assert!(
        line.starts_with(first_words),
        "expected `{first_words}...`, got: {stderr}"
    );
}

/// Everything the namespace holds, as the CLI lists it.
fn namespace(cluster: &Cluster) -> String {
    let volumes = cluster.cli_ok(&["sh", "volume", "list", "--json"]);
    let buckets = cluster.cli_ok(&["sh", "bucket", "list", "/vol", "--json"]);
    let keys = cluster.cli_ok(&["sh", "key", "list", "/vol/bucket", "--json"]);
    format!("{volumes}{buckets}{keys}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_clearly_and_changes_nothing() {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::new("bad-input");
    cluster.start_all();
    cluster.leader().await;
    cluster.cli_ok(&["sh", "volume", "create", "o3://cluster1/vol"]);
    cluster.cli_ok(&["sh", "bucket", "create", "o3://cluster1/vol/bucket"]);
    let file = cluster.directory.join("content.txt");
    std::fs::write(&file, b"content").unwrap();
    cluster.cli_ok(&[
        "sh",
        "key",
        "put",
        "/vol/bucket/key",
        &path_text(&file),
        "--meta",
        "a=b",
    ]);
    let before = namespace(&cluster);

    // A client that connects and never sends, on every port, for the rest of the test.
    let silent: Vec<std::net::TcpStream> = cluster
        .nodes
        .iter()
        .flat_map(|node| [node.client_address(), node.raft_address()])
        .map(|address| std::net::TcpStream::connect(address).unwrap())
        .collect();

    let refusals: [(&[&str], i32, &str); 6] = [
        (
            &["sh", "volume", "create", "o3://cluster1/Bad_Volume"],
            1,
            "INVALID_VOLUME_NAME",
        ),
        (
            &["sh", "bucket", "create", "o3://cluster1/vol/ab"],
            1,
            "INVALID_BUCKET_NAME",
        ),
        (
            &["sh", "key", "rename", "/vol/bucket", "key", ""],
            1,
            "INVALID_KEY_NAME",
        ),
        (
            &["sh", "volume", "info", "o3://cluster1:9862/vol"],
            2,
            "USAGE_ERROR: `o3://cluster1:9862/vol`: `cluster1` is a service id",
        ),
        (
            &["sh", "volume", "info", "o3://cluster1/nothere"],
            3,
            "VOLUME_NOT_FOUND",
        ),
        (
            &["admin", "om", "transfer", "-n", "om9"],
            5,
            "CONFIGURATION_ERROR: unknown node id `om9`",
        ),
    ];
    for (arguments, exit_code, first_words) in refusals {
        assert_refused(&cluster.cli(arguments), exit_code, first_words);
    }

    // Malformed and truncated configuration files; an unknown node id for the daemon.
    let site = std::fs::read_to_string(&cluster.site).unwrap();
    let truncated = cluster.directory.join("truncated.xml");
    std::fs::write(&truncated, &site[..site.len() / 2]).unwrap();
    let malformed = cluster.directory.join("malformed.xml");
    std::fs::write(&malformed, site.replace("</name>", "</nam>")).unwrap();
    for config in [&truncated, &malformed] {
        let origin = format!("CONFIGURATION_ERROR: {}:", config.display());
        assert_refused(
            &ozone_with_config(config, &["sh", "volume", "list"]),
            5,
            &origin,
        );
        assert_refused(
            &ozone_with_config(config, &["om", "--node-id", "om1"]),
            5,
            &origin,
        );
    }
    let unknown = ozone_with_config(&cluster.site, &["om", "--node-id", "om9"]);
    assert_refused(&unknown, 5, "CONFIGURATION_ERROR: unknown node id `om9`");
    assert_refused(&cluster.om(0, &["--init"]), 1, "OM_ALREADY_INITIALIZED");
    let empty = format!(
        "ozone.metadata.dirs={}",
        cluster.directory.join("empty").display()
    );
    let uninitialised =
        ozone_with_config(&cluster.site, &["om", "--node-id", "om1", "--conf", &empty]);
    assert_refused(&uninitialised, 1, "OM_NOT_INITIALIZED");

    // Garbage, oversized and truncated-then-junk frames on every client and Raft port.
    let oversized = u32::MAX.to_be_bytes();
    let junk_payload = [0, 0, 0, 8, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    for node in &cluster.nodes {
        for address in [node.client_address(), node.raft_address()] {
            assert_closed_after(address, b"GARBAGE, not a frame at all");
            assert_closed_after(address, &oversized);
            assert_closed_after(address, &junk_payload);
        }
    }

    assert_eq!(
        namespace(&cluster),
        before,
        "a refused request changed the namespace"
    );
    // Every node still serves clients and Raft: a new write reaches all three.
    cluster.cli_ok(&["sh", "key", "put", "/vol/bucket/after", &path_text(&file)]);
    let leader = cluster.leader().await;
    let index = cluster.roles().await[leader]
        .as_ref()
        .unwrap()
        .applied_index;
    cluster.converged(index).await;
    assert_every_node_holds(&cluster, "after", &["after".to_string()]).await;
    drop(silent);
}

fn names(listed_json: &str) -> Vec<String> {
    let records: Vec<serde_json::Value> = serde_json::from_str(listed_json).unwrap();
    records
        .iter()
        .map(|record| record["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shell_verb_pages_and_the_admin_transfers_leadership() {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::new("verbs");
    cluster.start_all();
    let leader = cluster.leader().await;
    let file = cluster.directory.join("content.txt");
    std::fs::write(&file, b"abc").unwrap();
    let file = path_text(&file);
    cluster.cli_ok(&["sh", "volume", "create", "/vol", "--user", "alice"]);
    cluster.cli_ok(&[
        "sh", "volume", "update", "/vol", "--user", "bob", "--quota", "1MB",
    ]);
    let volume: serde_json::Value =
        serde_json::from_str(&cluster.cli_ok(&["sh", "volume", "info", "/vol"])).unwrap();
    assert_eq!(
        (volume["owner"].as_str(), volume["quota_bytes"].as_u64()),
        (Some("bob"), Some(1 << 20))
    );
    cluster.cli_ok(&[
        "sh",
        "bucket",
        "create",
        "/vol/bucket",
        "--namespace-quota",
        "10",
    ]);
    cluster.cli_ok(&[
        "sh",
        "bucket",
        "update",
        "/vol/bucket",
        "--versioning",
        "true",
    ]);
    let bucket: serde_json::Value =
        serde_json::from_str(&cluster.cli_ok(&["sh", "bucket", "info", "/vol/bucket"])).unwrap();
    assert_eq!(
        (
            bucket["versioning"].as_bool(),
            bucket["quota_namespace"].as_u64()
        ),
        (Some(true), Some(10))
    );
    for key in ["k1", "k2", "k3", "k4", "k5"] {
        let uri = format!("o3://cluster1/vol/bucket/{key}");
        cluster.cli_ok(&["sh", "key", "put", &uri, &file, "--meta", "team=blue"]);
    }
    let key: serde_json::Value =
        serde_json::from_str(&cluster.cli_ok(&["sh", "key", "get", "/vol/bucket/k1"])).unwrap();
    assert_eq!(key["size"].as_u64(), Some(3));
    assert_eq!(key["metadata"]["team"].as_str(), Some("blue"));
    let sha256_of_abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_eq!(key["metadata"]["sha256"].as_str(), Some(sha256_of_abc));
    cluster.cli_ok(&["sh", "key", "rename", "/vol/bucket", "k1", "k0"]);
    cluster.cli_ok(&["sh", "key", "delete", "/vol/bucket/k5"]);
    // Two entries per call: the CLI pages through the list and honours --start and --length.
    let paged = ["--conf", "ozone.om.server.list.max.size=2", "--json"];
    let list = |extra: &[&str]| {
        let arguments: Vec<&str> = ["sh", "key", "list", "/vol/bucket"]
            .iter()
            .chain(extra)
            .chain(&paged)
            .copied()
            .collect();
        names(&cluster.cli_ok(&arguments))
    };
    assert_eq!(list(&[]), ["k0", "k2", "k3", "k4"]);
    assert_eq!(list(&["--start", "k0", "--length", "2"]), ["k2", "k3"]);
    let table = cluster.cli_ok(&["sh", "key", "list", "/vol/bucket"]);
    assert!(table.starts_with("KEY") && table.contains("k4"), "{table}");
    assert_refused(
        &cluster.cli(&["sh", "bucket", "delete", "/vol/bucket"]),
        1,
        "BUCKET_NOT_EMPTY",
    );
    for key in ["k0", "k2", "k3", "k4"] {
        cluster.cli_ok(&["sh", "key", "delete", &format!("/vol/bucket/{key}")]);
    }
    cluster.cli_ok(&["sh", "bucket", "delete", "/vol/bucket"]);
    cluster.cli_ok(&["sh", "volume", "delete", "/vol"]);
    assert_eq!(
        names(&cluster.cli_ok(&["sh", "volume", "list", "--json"])),
        Vec::<String>::new()
    );

    // Roles as the CLI prints them, then a transfer to a follower.
    let roles: Vec<serde_json::Value> = serde_json::from_str(&cluster.cli_ok(&[
        "admin",
        "om",
        "roles",
        "--service-id",
        "cluster1",
        "--json",
    ]))
    .unwrap();
    let role_names: Vec<&str> = roles
        .iter()
        .map(|role| role["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        role_names.iter().filter(|role| **role == "LEADER").count(),
        1,
        "{roles:?}"
    );
    assert_eq!(roles[leader]["role"].as_str(), Some("LEADER"));
    // Each transfer must land on its target, not on whoever wins an election after the old
    // leader steps down (with three nodes that would be a coin toss each time).
    let mut leader = leader;
    for step in 0..4 {
        let target = (leader + 1 + step % 2) % 3;
        let name = cluster.nodes[target].name.clone();
        cluster.cli_ok(&[
            "admin",
            "om",
            "transfer",
            "--service-id",
            "cluster1",
            "-n",
            &name,
        ]);
        assert_eq!(cluster.leader().await, target, "leadership moved to {name}");
        leader = target;
    }
}
