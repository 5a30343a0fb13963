use super::*;

const THREE_NODES: &str = r#"<?xml version="1.0"?>
<configuration>
  <property><name>ozone.om.service.ids</name><value>cluster1</value></property>
  <property><name>ozone.om.nodes.cluster1</name><value>om1, om2,om3</value></property>
  <property><name>ozone.om.address.cluster1.om1</name><value>127.0.0.1:9001</value></property>
  <property><name>ozone.om.address.cluster1.om2</name><value>127.0.0.2</value></property>
  <property><name>ozone.om.address.cluster1.om3</name><value>127.0.0.3:9003</value></property>
  <property><name>ozone.om.ratis.port.cluster1.om3</name><value>9103</value></property>
  <property><name>ozone.metadata.dirs</name><value>/data/meta</value></property>
  <property>
    <name>ozone.om.ha.raft.server.read.option</name>
    <value>LINEARIZABLE</value>
    <description>ignored</description>
  </property>
</configuration>
"#;

fn site() -> SiteConfig {
    SiteConfig::parse(THREE_NODES, "test.xml").unwrap()
}

fn config_with(overrides: &[&str]) -> Result<OmConfig, ConfigError> {
    let mut site = site();
    for assignment in overrides {
        site.apply_override(assignment)?;
    }
    OmConfig::from_site(&site)
}

fn error_key(error: ConfigError) -> String {
    match error {
        ConfigError::Missing { key, .. }
        | ConfigError::Invalid { key, .. }
        | ConfigError::Contradiction { key, .. } => key,
        other => panic!("no key in {other:?}"),
    }
}

#[test]
fn a_three_node_site_file_gives_nodes_ports_and_defaults() {
    let config = OmConfig::from_site(&site()).unwrap();
    let service = config.default_service().unwrap();
    assert_eq!(service.id, "cluster1");
    let described: Vec<(&str, u64, String, String)> = service
        .nodes
        .iter()
        .map(|node| {
            (
                node.name.as_str(),
                node.raft_id,
                node.client_address(),
                node.raft_address(),
            )
        })
        .collect();
    assert_eq!(
        described,
        vec![
            ("om1", 1, "127.0.0.1:9001".into(), "127.0.0.1:9872".into()),
            ("om2", 2, "127.0.0.2:9862".into(), "127.0.0.2:9872".into()),
            ("om3", 3, "127.0.0.3:9003".into(), "127.0.0.3:9103".into()),
        ]
    );
    assert_eq!(config.read_option, ReadOption::Linearizable);
    assert_eq!(config.unflushed_transactions_max, 10_000);
    assert_eq!(config.flush_interval_ms, 5);
    assert_eq!(config.snapshot_entries_threshold, 400_000);
    assert_eq!(config.list_entries_max, 1000);
    assert_eq!(config.retry_cache_expiry_ms, 300_000);
    assert_eq!(config.failover, FailoverPolicy::default());
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let dirs = config.storage_dirs().unwrap();
    assert_eq!(dirs.db_dir, PathBuf::from("/data/meta"));
    assert_eq!(dirs.ratis_dir, PathBuf::from("/data/meta/ratis"));
}

#[test]
fn the_node_config_and_client_come_from_the_same_keys() {
    let config = config_with(&[
        "ozone.om.unflushed.transaction.max.count=7",
        "ozone.om.double.buffer.flush.interval=0ms",
        "ozone.om.ratis.snapshot.auto.trigger.threshold=99",
        "ozone.om.ha.raft.server.retrycache.expirytime=5s",
        "ozone.client.failover.max.attempts=3",
        "ozone.client.wait.between.retries.millis=10",
    ])
    .unwrap();
    let service = config.default_service().unwrap();
    let node = config.node_config(service.node("om3").unwrap());
    assert_eq!(node.node_id, 3);
    assert_eq!(node.address.client_address, "127.0.0.3:9003");
    assert_eq!(node.address.raft_address, "127.0.0.3:9103");
    assert_eq!(node.read_option, ReadOption::Linearizable);
    assert_eq!(node.unflushed_transactions_max, 7);
    assert_eq!(node.flush_interval_ms, 0);
    assert_eq!(node.snapshot_entries_threshold, 99);
    assert_eq!(node.retry_cache_expiry_ms, 5000);
    assert_eq!(config.failover.attempts_max, 3);
    assert_eq!(
        config.failover.wait_between_retries,
        Duration::from_millis(10)
    );
    let members = config.members(service);
    assert_eq!(members.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3]);
    let clients = config.client_nodes(service).unwrap();
    assert_eq!(clients[1], (2, "127.0.0.2:9862".parse().unwrap()));
}

use std::time::Duration;

#[test]
fn missing_required_keys_are_named() {
    let mut site = site();
    site.set("ozone.om.service.ids", "cluster1,cluster2");
    let error = OmConfig::from_site(&site).unwrap_err();
    assert_eq!(error_key(error), "ozone.om.nodes.cluster2");

    let site = SiteConfig::from_pairs([
        ("ozone.om.service.ids", "c"),
        ("ozone.om.nodes.c", "a,b"),
        ("ozone.om.address.c.a", "10.0.0.1"),
    ]);
    let error = OmConfig::from_site(&site).unwrap_err();
    assert_eq!(error_key(error.clone()), "ozone.om.address.c.b");
    assert!(
        error.to_string().contains("ozone.om.address.c.b"),
        "{error}"
    );

    let config = OmConfig::from_site(&SiteConfig::from_pairs([])).unwrap();
    assert_eq!(
        error_key(config.default_service().unwrap_err()),
        "ozone.om.service.ids"
    );
    assert_eq!(
        error_key(config.storage_dirs().unwrap_err()),
        "ozone.om.db.dirs"
    );
}

#[test]
fn contradictory_keys_are_named() {
    let same_port = config_with(&["ozone.om.address.cluster1.om2=127.0.0.1:9001"]);
    assert_eq!(
        error_key(same_port.unwrap_err()),
        "ozone.om.address.cluster1.om2"
    );
    let client_is_raft = config_with(&["ozone.om.ratis.port=9001"]);
    assert_eq!(
        error_key(client_is_raft.unwrap_err()),
        "ozone.om.address.cluster1.om1"
    );
    let raft_off = config_with(&["ozone.om.ratis.enable=false"]);
    assert_eq!(error_key(raft_off.unwrap_err()), "ozone.om.ratis.enable");
    let foreign = config_with(&["ozone.om.internal.service.id=other"]);
    assert_eq!(
        error_key(foreign.unwrap_err()),
        "ozone.om.internal.service.id"
    );
    let mut site = site();
    site.set("ozone.om.service.ids", "cluster1,cluster2");
    site.set("ozone.om.nodes.cluster2", "x");
    site.set("ozone.om.address.cluster2.x", "10.0.0.9");
    let config = OmConfig::from_site(&site).unwrap();
    assert_eq!(
        error_key(config.default_service().unwrap_err()),
        "ozone.om.internal.service.id"
    );
}

#[test]
fn malformed_values_are_named_with_the_value() {
    for (assignment, key) in [
        (
            "ozone.om.address.cluster1.om1=127.0.0.1:99999",
            "ozone.om.address.cluster1.om1",
        ),
        (
            "ozone.om.address.cluster1.om1=:9000",
            "ozone.om.address.cluster1.om1",
        ),
        ("ozone.om.ratis.port=0", "ozone.om.ratis.port"),
        (
            "ozone.om.ha.raft.server.read.option=STALE",
            "ozone.om.ha.raft.server.read.option",
        ),
        (
            "ozone.om.unflushed.transaction.max.count=0",
            "ozone.om.unflushed.transaction.max.count",
        ),
        (
            "ozone.om.double.buffer.flush.interval=soon",
            "ozone.om.double.buffer.flush.interval",
        ),
        (
            "ozone.om.server.list.max.size=5000",
            "ozone.om.server.list.max.size",
        ),
        (
            "ozone.om.ha.raft.server.retrycache.expirytime=5 weeks",
            "ozone.om.ha.raft.server.retrycache.expirytime",
        ),
        ("ozone.om.ratis.enable=yes", "ozone.om.ratis.enable"),
        (
            "ozone.om.nodes.cluster1=om1,,om2",
            "ozone.om.nodes.cluster1",
        ),
        ("ozone.om.nodes.cluster1=om1,om1", "ozone.om.nodes.cluster1"),
        ("ozone.om.service.ids=", "ozone.om.service.ids"),
    ] {
        let error = config_with(&[assignment]).unwrap_err();
        assert!(
            matches!(error, ConfigError::Invalid { .. }),
            "{assignment}: {error:?}"
        );
        assert_eq!(error_key(error), key, "{assignment}");
    }
}

#[test]
fn truncated_or_malformed_xml_is_an_error_with_its_position() {
    // Cut inside an element, as a half-written file would be.
    let cut = THREE_NODES.find("cluster1.om2").unwrap();
    let truncated = &THREE_NODES[..cut];
    let error = SiteConfig::parse(truncated, "site.xml").unwrap_err();
    let ConfigError::Xml { origin, line, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(origin, "site.xml");
    assert_eq!(*line, 6, "{error}");
    assert!(error.to_string().starts_with("site.xml:"), "{error}");

    let unclosed = "<configuration>\n<property><name>a</name><value>b</value>\n</configuration>";
    let error = SiteConfig::parse(unclosed, "x").unwrap_err();
    assert!(
        matches!(error, ConfigError::Xml { line: 3, .. }),
        "{error:?}"
    );

    let wrong_root = "<config><property><name>a</name></property></config>";
    let error = SiteConfig::parse(wrong_root, "x").unwrap_err();
    assert!(error.to_string().contains("not <configuration>"), "{error}");

    let nameless = "<configuration>\n  <property><value>b</value></property>\n</configuration>";
    let error = SiteConfig::parse(nameless, "x").unwrap_err();
    assert!(
        matches!(
            error,
            ConfigError::Xml {
                line: 2,
                column: 3,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(SiteConfig::parse("", "x").is_err());
}

#[test]
fn unknown_om_keys_are_warnings_and_other_keys_are_ignored() {
    let config = config_with(&[
        "ozone.om.ratis.enabel=true",
        "ozone.om.address.cluster9.om1=10.0.0.1",
        "ozone.scm.names=scm",
    ])
    .unwrap();
    assert_eq!(config.warnings.len(), 2, "{:?}", config.warnings);
    assert!(config.warnings[0].contains("ozone.om.address.cluster9.om1"));
    assert!(config.warnings[1].contains("ozone.om.ratis.enabel"));
    let odd = "<configuration><prop/><property><name>a</name></property></configuration>";
    let site = SiteConfig::parse(odd, "odd.xml").unwrap();
    assert_eq!(site.warnings().len(), 1);
    assert_eq!(site.get("a"), Some(""));
}

#[test]
fn overrides_win_and_must_be_key_value() {
    let config = config_with(&["ozone.om.address.cluster1.om1 = 127.0.0.9:1"]).unwrap();
    let node = &config.default_service().unwrap().nodes[0];
    assert_eq!(node.client_address(), "127.0.0.9:1");
    for bad in ["no-equals", "=value"] {
        let error = config_with(&[bad]).unwrap_err();
        assert_eq!(
            error,
            ConfigError::Override {
                text: bad.to_string()
            }
        );
    }
}

#[test]
fn the_local_node_comes_from_the_flag_the_key_or_the_one_local_address() {
    let config = config_with(&["ozone.om.node.id=om2"]).unwrap();
    let service = config.default_service().unwrap();
    let nowhere = |_: &str| false;
    assert_eq!(
        config
            .local_node(service, Some("om3"), nowhere)
            .unwrap()
            .name,
        "om3"
    );
    assert_eq!(
        config.local_node(service, None, nowhere).unwrap().name,
        "om2"
    );
    let unknown = config
        .local_node(service, Some("om9"), nowhere)
        .unwrap_err();
    assert!(unknown.to_string().contains("om9"), "{unknown}");
    assert!(matches!(unknown, ConfigError::UnknownNode { .. }));

    let config = OmConfig::from_site(&site()).unwrap();
    let service = config.default_service().unwrap();
    let only_second = |host: &str| host == "127.0.0.2";
    assert_eq!(
        config.local_node(service, None, only_second).unwrap().name,
        "om2"
    );
    let none = config.local_node(service, None, nowhere).unwrap_err();
    assert_eq!(error_key(none), "ozone.om.node.id");
    let all = config.local_node(service, None, |_| true).unwrap_err();
    assert!(all.to_string().contains("several"), "{all}");
}

#[test]
fn host_names_resolve_before_use_and_ipv6_keeps_brackets() {
    let site = SiteConfig::from_pairs([
        ("ozone.om.service.ids", "c"),
        ("ozone.om.nodes.c", "a,b"),
        ("ozone.om.address.c.a", "om-a.example:7000"),
        ("ozone.om.address.c.b", "[::1]:7001"),
    ]);
    let mut config = OmConfig::from_site(&site).unwrap();
    let service = config.service("c").unwrap().clone();
    let error = config.client_nodes(&service).unwrap_err();
    assert_eq!(error_key(error), "ozone.om.address.c.a");
    assert_eq!(service.nodes[1].client_address(), "[::1]:7001");
    let failed = config.resolve_hosts(|_| Err("no such host".to_string()));
    assert_eq!(error_key(failed.unwrap_err()), "ozone.om.address.c.a");
    config
        .resolve_hosts(|_| Ok("10.1.1.1".to_string()))
        .unwrap();
    let service = config.service("c").unwrap();
    let nodes = config.client_nodes(service).unwrap();
    assert_eq!(nodes[0].1, "10.1.1.1:7000".parse().unwrap());
    assert_eq!(nodes[1].1, "[::1]:7001".parse().unwrap());
}
