//! Our OM service as the load generator's target: each client creates keys the way an Ozone
//! client does, `OpenKey` then `CommitKey`, each one replicated write.

use crate::load::Writer;
use om_server::client::{FailoverPolicy, OmClient};
use om_server::config::{OmConfig, SiteConfig};
use om_server::om::{OmRequest, OmResponse, Quota, Replication};
use om_server::raft::NodeId;
use om_server::transport::TransportLimits;
use om_server::OmError;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

const VOLUME: &str = "bench";
const BUCKET: &str = "bench";
/// Bytes a created key claims (one block).
const KEY_SIZE: u64 = 4096;

/// The client addresses of the default service in `site` (an ozone-site.xml).
pub fn service_nodes(site: &Path) -> Result<Vec<(NodeId, SocketAddr)>, String> {
    let site = SiteConfig::read(site).map_err(|error| error.to_string())?;
    let config = OmConfig::from_site(&site).map_err(|error| error.to_string())?;
    let service = config
        .default_service()
        .map_err(|error| error.to_string())?;
    config
        .client_nodes(service)
        .map_err(|error| error.to_string())
}

fn client(nodes: &[(NodeId, SocketAddr)]) -> OmClient {
    let policy = FailoverPolicy {
        attempts_max: 50,
        wait_between_retries: Duration::from_millis(100),
        call_timeout: Duration::from_secs(10),
    };
    OmClient::new(nodes, policy, &TransportLimits::default())
}

async fn create(client: &mut OmClient, request: OmRequest, exists: OmError) -> Result<(), String> {
    match client.call(request).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) if error == exists => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(unavailable) => Err(unavailable.to_string()),
    }
}

/// The volume and bucket every writer creates its keys in (kept when they exist).
pub async fn prepare(nodes: &[(NodeId, SocketAddr)]) -> Result<(), String> {
    let mut client = client(nodes);
    let volume = OmRequest::CreateVolume {
        volume: VOLUME.into(),
        owner: "bench".into(),
        quota: Quota::default(),
    };
    create(&mut client, volume, OmError::VolumeAlreadyExists).await?;
    let bucket = OmRequest::CreateBucket {
        volume: VOLUME.into(),
        bucket: BUCKET.into(),
        versioning: false,
        layout: om_server::om::BucketLayout::ObjectStore,
        quota: Quota::default(),
    };
    create(&mut client, bucket, OmError::BucketAlreadyExists).await
}

pub struct OmWriter {
    client: OmClient,
    /// Unique per writer and run: `<run>-<client>-`.
    key_prefix: String,
    keys_opened: u64,
    /// The key opened by the last write, which the next write commits.
    open: Option<(String, u64)>,
}

impl OmWriter {
    /// Writer `number` of a run named `run` (names its keys apart from other runs').
    pub fn new(nodes: &[(NodeId, SocketAddr)], run: &str, number: usize) -> OmWriter {
        OmWriter {
            client: client(nodes),
            key_prefix: format!("{run}-{number}-"),
            keys_opened: 0,
            open: None,
        }
    }

    fn next_request(&mut self) -> OmRequest {
        match &self.open {
            Some((key, open_id)) => OmRequest::CommitKey {
                volume: VOLUME.into(),
                bucket: BUCKET.into(),
                key: key.clone(),
                open_id: *open_id,
                size: KEY_SIZE,
            },
            None => {
                self.keys_opened += 1;
                OmRequest::OpenKey {
                    volume: VOLUME.into(),
                    bucket: BUCKET.into(),
                    key: format!("{}{}", self.key_prefix, self.keys_opened),
                    size: KEY_SIZE,
                    replication: Replication::RatisThree,
                    metadata: BTreeMap::new(),
                }
            }
        }
    }
}

impl Writer for OmWriter {
    async fn write(&mut self) -> Result<(), String> {
        let request = self.next_request();
        let answer = self.client.call(request.clone()).await;
        match answer.map_err(|unavailable| unavailable.to_string())? {
            Ok(OmResponse::KeyOpened { open_id, .. }) => {
                if let OmRequest::OpenKey { key, .. } = request {
                    self.open = Some((key, open_id));
                }
                Ok(())
            }
            Ok(_) => {
                self.open = None;
                Ok(())
            }
            // A failed commit leaves the key open for good: the next write opens a new one.
            Err(error) => {
                self.open = None;
                Err(error.to_string())
            }
        }
    }
}
