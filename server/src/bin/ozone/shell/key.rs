//! `ozone sh key put|get|info|list|rename|delete`. No datanodes: a key is its metadata.

use super::{done, info, unexpected, ListArgs, Listed, Session};
use crate::failure::Failure;
use crate::output;
use clap::{Subcommand, ValueEnum};
use om_server::om::{KeyInfo, OmRequest, OmResponse, Replication};
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(super) enum ReplicationArg {
    One,
    Three,
}

#[derive(Subcommand, Debug)]
pub(super) enum KeyCommand {
    /// Record a key for FILE: its size and SHA-256 (metadata only, no data is stored).
    Put {
        uri: String,
        file: PathBuf,
        /// Metadata pair (repeatable): --meta owner=alice.
        #[arg(long = "meta", value_name = "KEY=VALUE")]
        meta: Vec<String>,
        #[arg(long, short = 'r', value_enum, default_value = "three")]
        replication: ReplicationArg,
    },
    /// Print a key's recorded metadata (there is no data to download).
    Get {
        uri: String,
    },
    Info {
        uri: String,
    },
    /// Keys of a bucket.
    List {
        uri: String,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Rename FROM to TO in the bucket URI.
    Rename {
        uri: String,
        from: String,
        to: String,
    },
    Delete {
        uri: String,
    },
}

pub(super) async fn run(session: &Session, command: KeyCommand) -> Result<(), Failure> {
    match command {
        KeyCommand::Put {
            uri,
            file,
            meta,
            replication,
        } => put(session, &uri, &file, &meta, replication).await,
        KeyCommand::Get { uri } | KeyCommand::Info { uri } => {
            let (path, mut connection) = session.open(&uri)?;
            let (volume, bucket, key) = path.key_path(&uri)?;
            let request = OmRequest::LookupKey {
                volume,
                bucket,
                key,
            };
            match connection.call(request).await? {
                OmResponse::Key(key) => info(&key),
                other => Err(unexpected(other)),
            }
        }
        KeyCommand::List { uri, list } => {
            let (path, mut connection) = session.open(&uri)?;
            let (volume, bucket) = path.bucket_only(&uri)?;
            let request = |prefix, start, max| OmRequest::ListKeys {
                volume: volume.clone(),
                bucket: bucket.clone(),
                prefix,
                start,
                max,
            };
            let keys = session.listed(&mut connection, &list, request).await?;
            print(&keys, list.json);
            Ok(())
        }
        KeyCommand::Rename { uri, from, to } => {
            let (path, mut connection) = session.open(&uri)?;
            let (volume, bucket) = path.bucket_only(&uri)?;
            let request = OmRequest::RenameKey {
                volume,
                bucket,
                from_key: from,
                to_key: to,
            };
            connection.call(request).await.map(done)
        }
        KeyCommand::Delete { uri } => {
            let (path, mut connection) = session.open(&uri)?;
            let (volume, bucket, key) = path.key_path(&uri)?;
            let request = OmRequest::DeleteKey {
                volume,
                bucket,
                key,
            };
            connection.call(request).await.map(done)
        }
    }
}

/// Open, then commit with the file's size: Ozone's two-phase key write, minus the data.
async fn put(
    session: &Session,
    uri: &str,
    file: &Path,
    meta: &[String],
    replication: ReplicationArg,
) -> Result<(), Failure> {
    let (path, mut connection) = session.open(uri)?;
    let (volume, bucket, key) = path.key_path(uri)?;
    let (size, metadata) = key_metadata(file, meta)?;
    let replication = match replication {
        ReplicationArg::One => Replication::RatisOne,
        ReplicationArg::Three => Replication::RatisThree,
    };
    let open = OmRequest::OpenKey {
        volume: volume.clone(),
        bucket: bucket.clone(),
        key: key.clone(),
        size,
        replication,
        metadata,
    };
    let open_id = match connection.call(open).await? {
        OmResponse::KeyOpened { open_id, .. } => open_id,
        other => return Err(unexpected(other)),
    };
    let commit = OmRequest::CommitKey {
        volume,
        bucket,
        key,
        open_id,
        size,
    };
    connection.call(commit).await.map(done)
}

/// The file's size, and the user's `--meta` pairs plus `sha256` of the content.
fn key_metadata(file: &Path, meta: &[String]) -> Result<(u64, BTreeMap<String, String>), Failure> {
    let content = std::fs::read(file)
        .map_err(|error| Failure::Usage(format!("cannot read {}: {error}", file.display())))?;
    let mut metadata = BTreeMap::new();
    for pair in meta {
        let Some((name, value)) = pair.split_once('=').filter(|(name, _)| !name.is_empty()) else {
            return Err(Failure::Usage(format!("--meta `{pair}` is not KEY=VALUE")));
        };
        metadata.insert(name.to_string(), value.to_string());
    }
    let digest = sha2::Sha256::digest(&content);
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    metadata.insert("sha256".to_string(), hex);
    Ok((content.len() as u64, metadata))
}

impl Listed for KeyInfo {
    fn page(response: OmResponse) -> Result<Vec<Self>, Failure> {
        match response {
            OmResponse::Keys(keys) => Ok(keys),
            other => Err(unexpected(other)),
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}

fn print(keys: &[KeyInfo], json: bool) {
    if json {
        return output::json(&keys);
    }
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|key| {
            vec![
                key.name.clone(),
                key.size.to_string(),
                format!("{:?}", key.replication),
                output::optional(key.metadata.get("sha256")),
                key.modification_time_ms.to_string(),
            ]
        })
        .collect();
    let header = ["KEY", "SIZE", "REPLICATION", "SHA256", "MODIFIED_MS"];
    output::table(&header, &rows);
}
