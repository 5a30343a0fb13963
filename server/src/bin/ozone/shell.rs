//! `ozone sh volume|bucket|key ...`: one OM request (or a short sequence) per command.
//! Info commands print JSON as Ozone does; lists print a table, or JSON with `--json`.

use crate::cli::ConfigArgs;
use crate::connection::Connection;
use crate::failure::Failure;
use crate::output;
use crate::uri::{self, OzonePath};
use clap::{Args, Subcommand, ValueEnum};
use om_server::config::OmConfig;
use om_server::om::{BucketLayout, OmRequest, OmResponse, Quota, Replication};
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ShArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: ShCommand,
}

#[derive(Subcommand, Debug)]
enum ShCommand {
    #[command(subcommand)]
    Volume(VolumeCommand),
    #[command(subcommand)]
    Bucket(BucketCommand),
    /// Keys. This deployment has no datanodes: `put` records metadata only (size, SHA-256 of
    /// the content, --meta pairs); no data is stored or returned.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Args, Debug)]
struct QuotaArgs {
    /// Space quota: bytes, or with KB, MB, GB, TB (1024-based).
    #[arg(long)]
    quota: Option<String>,
    /// Namespace quota: buckets of a volume, keys of a bucket.
    #[arg(long)]
    namespace_quota: Option<u64>,
}

#[derive(Args, Debug)]
struct ListArgs {
    #[arg(long, default_value = "")]
    prefix: String,
    /// List after this name (exclusive).
    #[arg(long, default_value = "")]
    start: String,
    /// Entries to list at most.
    #[arg(long, short = 'l', default_value_t = 100)]
    length: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum VolumeCommand {
    Create {
        uri: String,
        /// Owner (default: $USER).
        #[arg(long, short = 'u')]
        user: Option<String>,
        #[command(flatten)]
        quota: QuotaArgs,
    },
    Info {
        uri: String,
    },
    /// Volumes of the service (the path names only the service, or nothing).
    List {
        uri: Option<String>,
        #[command(flatten)]
        list: ListArgs,
    },
    Update {
        uri: String,
        #[arg(long, short = 'u')]
        user: Option<String>,
        #[command(flatten)]
        quota: QuotaArgs,
    },
    Delete {
        uri: String,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Layout {
    ObjectStore,
    FileSystemOptimized,
    Legacy,
}

#[derive(Subcommand, Debug)]
enum BucketCommand {
    Create {
        uri: String,
        #[arg(long)]
        versioning: bool,
        #[arg(long, value_enum, default_value = "object-store")]
        layout: Layout,
        #[command(flatten)]
        quota: QuotaArgs,
    },
    Info {
        uri: String,
    },
    /// Buckets of a volume.
    List {
        uri: String,
        #[command(flatten)]
        list: ListArgs,
    },
    Update {
        uri: String,
        #[arg(long)]
        versioning: Option<bool>,
        #[command(flatten)]
        quota: QuotaArgs,
    },
    Delete {
        uri: String,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ReplicationArg {
    One,
    Three,
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
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

/// A parsed path and the connection to its OM.
struct Session {
    config: OmConfig,
}

impl Session {
    fn path(&self, text: &str) -> Result<OzonePath, Failure> {
        let is_service = |name: &str| {
            self.config
                .services
                .iter()
                .any(|service| service.id == name)
        };
        uri::parse(text, &is_service)
    }

    fn connect(&self, path: &OzonePath) -> Result<Connection, Failure> {
        Connection::open(&self.config, &path.target)
    }
}

pub async fn run(arguments: ShArgs) -> Result<(), Failure> {
    let session = Session {
        config: arguments.config.load()?,
    };
    match arguments.command {
        ShCommand::Volume(command) => volume(&session, command).await,
        ShCommand::Bucket(command) => bucket(&session, command).await,
        ShCommand::Key(command) => key(&session, command).await,
    }
}

/// `10`, `10KB`, `5 GB`: bytes, 1024-based units.
fn bytes(text: &str) -> Result<u64, Failure> {
    let upper = text.trim().to_ascii_uppercase();
    let digits_end = upper
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(upper.len());
    let (digits, unit) = upper.split_at(digits_end);
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        _ => {
            return Err(Failure::Usage(format!(
                "`{text}`: a quota is bytes or KB, MB, GB, TB"
            )))
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|amount| amount.checked_mul(scale))
        .ok_or_else(|| Failure::Usage(format!("`{text}` is not a size")))
}

impl QuotaArgs {
    fn is_set(&self) -> bool {
        self.quota.is_some() || self.namespace_quota.is_some()
    }

    /// The quota these flags give, unset parts taken from `current`.
    fn merged(&self, current: Quota) -> Result<Quota, Failure> {
        Ok(Quota {
            bytes: match &self.quota {
                Some(text) => Some(bytes(text)?),
                None => current.bytes,
            },
            namespace: self.namespace_quota.or(current.namespace),
        })
    }
}

fn default_owner() -> String {
    #[allow(clippy::disallowed_methods)] // the CLI user's name, as Ozone takes it from the login
    let user = std::env::var("USER");
    user.unwrap_or_else(|_| "ozone".to_string())
}

fn unexpected(response: OmResponse) -> Failure {
    Failure::other("INTERNAL_ERROR", format!("unexpected answer {response:?}"))
}

async fn volume(session: &Session, command: VolumeCommand) -> Result<(), Failure> {
    match command {
        VolumeCommand::Create { uri, user, quota } => {
            let path = session.path(&uri)?;
            let request = OmRequest::CreateVolume {
                volume: path.volume_only(&uri)?,
                owner: user.unwrap_or_else(default_owner),
                quota: quota.merged(Quota::default())?,
            };
            session.connect(&path)?.call(request).await.map(|_| ())
        }
        VolumeCommand::Info { uri } => {
            let path = session.path(&uri)?;
            let volume = path.volume_only(&uri)?;
            match session
                .connect(&path)?
                .call(OmRequest::VolumeInfo { volume })
                .await?
            {
                OmResponse::Volume(info) => Ok(output::json(&info)),
                other => Err(unexpected(other)),
            }
        }
        VolumeCommand::List { uri, list } => {
            let path = session.path(uri.as_deref().unwrap_or("/"))?;
            if path.volume.is_some() {
                return Err(Failure::Usage(
                    "volume list takes a service, not a volume".into(),
                ));
            }
            let mut connection = session.connect(&path)?;
            let volumes = listed(
                session,
                &list,
                |prefix, start, max| OmRequest::ListVolumes { prefix, start, max },
                &mut connection,
                |response| match response {
                    OmResponse::Volumes(volumes) => Ok(volumes),
                    other => Err(unexpected(other)),
                },
                |volume| volume.name.clone(),
            )
            .await?;
            print_volumes(&volumes, list.json);
            Ok(())
        }
        VolumeCommand::Update { uri, user, quota } => {
            let path = session.path(&uri)?;
            let volume = path.volume_only(&uri)?;
            let mut connection = session.connect(&path)?;
            if !quota.is_set() && user.is_none() {
                return Err(Failure::Usage(
                    "volume update needs --user, --quota or --namespace-quota".into(),
                ));
            }
            if let Some(owner) = user {
                connection
                    .call(OmRequest::SetVolumeOwner {
                        volume: volume.clone(),
                        owner,
                    })
                    .await?;
            }
            if quota.is_set() {
                let OmResponse::Volume(info) = connection
                    .call(OmRequest::VolumeInfo {
                        volume: volume.clone(),
                    })
                    .await?
                else {
                    return Err(Failure::other(
                        "INTERNAL_ERROR",
                        "unexpected answer to volume info",
                    ));
                };
                let current = Quota {
                    bytes: info.quota_bytes,
                    namespace: info.quota_namespace,
                };
                let quota = quota.merged(current)?;
                connection
                    .call(OmRequest::SetVolumeQuota { volume, quota })
                    .await?;
            }
            Ok(())
        }
        VolumeCommand::Delete { uri } => {
            let path = session.path(&uri)?;
            let volume = path.volume_only(&uri)?;
            session
                .connect(&path)?
                .call(OmRequest::DeleteVolume { volume })
                .await
                .map(|_| ())
        }
    }
}

/// Pages through a list: at most `list.length` entries, `ozone.om.server.list.max.size` per call.
async fn listed<T>(
    session: &Session,
    list: &ListArgs,
    request: impl Fn(String, String, usize) -> OmRequest,
    connection: &mut Connection,
    entries: impl Fn(OmResponse) -> Result<Vec<T>, Failure>,
    name: impl Fn(&T) -> String,
) -> Result<Vec<T>, Failure> {
    let mut all: Vec<T> = Vec::new();
    let mut start = list.start.clone();
    while all.len() < list.length {
        let page_max = (list.length - all.len()).min(session.config.list_entries_max);
        let page = entries(
            connection
                .call(request(list.prefix.clone(), start.clone(), page_max))
                .await?,
        )?;
        let full = page.len() == page_max;
        if let Some(last) = page.last() {
            start = name(last);
        }
        all.extend(page);
        if !full {
            break;
        }
    }
    Ok(all)
}

fn print_volumes(volumes: &[om_server::om::VolumeInfo], json: bool) {
    if json {
        return output::json(&volumes);
    }
    let rows: Vec<Vec<String>> = volumes
        .iter()
        .map(|volume| {
            vec![
                volume.name.clone(),
                volume.owner.clone(),
                output::optional(volume.quota_bytes),
                output::optional(volume.quota_namespace),
                volume.used_bytes.to_string(),
                volume.used_namespace.to_string(),
            ]
        })
        .collect();
    output::table(
        &[
            "VOLUME",
            "OWNER",
            "QUOTA",
            "NS_QUOTA",
            "USED_BYTES",
            "BUCKETS",
        ],
        &rows,
    );
}

fn layout_of(layout: Layout) -> BucketLayout {
    match layout {
        Layout::ObjectStore => BucketLayout::ObjectStore,
        Layout::FileSystemOptimized => BucketLayout::FileSystemOptimized,
        Layout::Legacy => BucketLayout::Legacy,
    }
}

async fn bucket(session: &Session, command: BucketCommand) -> Result<(), Failure> {
    match command {
        BucketCommand::Create {
            uri,
            versioning,
            layout,
            quota,
        } => {
            let path = session.path(&uri)?;
            let (volume, bucket) = path.bucket_only(&uri)?;
            let request = OmRequest::CreateBucket {
                volume,
                bucket,
                versioning,
                layout: layout_of(layout),
                quota: quota.merged(Quota::default())?,
            };
            session.connect(&path)?.call(request).await.map(|_| ())
        }
        BucketCommand::Info { uri } => {
            let path = session.path(&uri)?;
            let (volume, bucket) = path.bucket_only(&uri)?;
            match session
                .connect(&path)?
                .call(OmRequest::BucketInfo { volume, bucket })
                .await?
            {
                OmResponse::Bucket(info) => Ok(output::json(&info)),
                other => Err(unexpected(other)),
            }
        }
        BucketCommand::List { uri, list } => {
            let path = session.path(&uri)?;
            let volume = path.volume_only(&uri)?;
            let mut connection = session.connect(&path)?;
            let buckets = listed(
                session,
                &list,
                |prefix, start, max| OmRequest::ListBuckets {
                    volume: volume.clone(),
                    prefix,
                    start,
                    max,
                },
                &mut connection,
                |response| match response {
                    OmResponse::Buckets(buckets) => Ok(buckets),
                    other => Err(unexpected(other)),
                },
                |bucket| bucket.name.clone(),
            )
            .await?;
            print_buckets(&buckets, list.json);
            Ok(())
        }
        BucketCommand::Update {
            uri,
            versioning,
            quota,
        } => {
            let path = session.path(&uri)?;
            let (volume, bucket) = path.bucket_only(&uri)?;
            let mut connection = session.connect(&path)?;
            let quota = if quota.is_set() {
                let OmResponse::Bucket(info) = connection
                    .call(OmRequest::BucketInfo {
                        volume: volume.clone(),
                        bucket: bucket.clone(),
                    })
                    .await?
                else {
                    return Err(Failure::other(
                        "INTERNAL_ERROR",
                        "unexpected answer to bucket info",
                    ));
                };
                Some(quota.merged(Quota {
                    bytes: info.quota_bytes,
                    namespace: info.quota_namespace,
                })?)
            } else {
                None
            };
            if quota.is_none() && versioning.is_none() {
                return Err(Failure::Usage(
                    "bucket update needs --versioning, --quota or --namespace-quota".into(),
                ));
            }
            let request = OmRequest::SetBucketProperty {
                volume,
                bucket,
                versioning,
                quota,
            };
            connection.call(request).await.map(|_| ())
        }
        BucketCommand::Delete { uri } => {
            let path = session.path(&uri)?;
            let (volume, bucket) = path.bucket_only(&uri)?;
            session
                .connect(&path)?
                .call(OmRequest::DeleteBucket { volume, bucket })
                .await
                .map(|_| ())
        }
    }
}

fn print_buckets(buckets: &[om_server::om::BucketInfo], json: bool) {
    if json {
        return output::json(&buckets);
    }
    let rows: Vec<Vec<String>> = buckets
        .iter()
        .map(|bucket| {
            vec![
                bucket.name.clone(),
                format!("{:?}", bucket.layout),
                bucket.versioning.to_string(),
                output::optional(bucket.quota_bytes),
                bucket.used_bytes.to_string(),
                bucket.used_namespace.to_string(),
            ]
        })
        .collect();
    output::table(
        &[
            "BUCKET",
            "LAYOUT",
            "VERSIONING",
            "QUOTA",
            "USED_BYTES",
            "KEYS",
        ],
        &rows,
    );
}

async fn key(session: &Session, command: KeyCommand) -> Result<(), Failure> {
    match command {
        KeyCommand::Put {
            uri,
            file,
            meta,
            replication,
        } => {
            let path = session.path(&uri)?;
            let (volume, bucket, key) = path.key_path(&uri)?;
            let metadata = key_metadata(&file, &meta)?;
            let size: u64 = metadata["size"].parse().expect("recorded just now");
            let replication = match replication {
                ReplicationArg::One => Replication::RatisOne,
                ReplicationArg::Three => Replication::RatisThree,
            };
            let mut connection = session.connect(&path)?;
            let open = OmRequest::OpenKey {
                volume: volume.clone(),
                bucket: bucket.clone(),
                key: key.clone(),
                size,
                replication,
                metadata,
            };
            let OmResponse::KeyOpened { open_id, .. } = connection.call(open).await? else {
                return Err(Failure::other(
                    "INTERNAL_ERROR",
                    "unexpected answer to open key",
                ));
            };
            let commit = OmRequest::CommitKey {
                volume,
                bucket,
                key,
                open_id,
                size,
            };
            connection.call(commit).await.map(|_| ())
        }
        KeyCommand::Get { uri } | KeyCommand::Info { uri } => {
            let path = session.path(&uri)?;
            let (volume, bucket, key) = path.key_path(&uri)?;
            match session
                .connect(&path)?
                .call(OmRequest::LookupKey {
                    volume,
                    bucket,
                    key,
                })
                .await?
            {
                OmResponse::Key(info) => Ok(output::json(&info)),
                other => Err(unexpected(other)),
            }
        }
        KeyCommand::List { uri, list } => {
            let path = session.path(&uri)?;
            let (volume, bucket) = path.bucket_only(&uri)?;
            let mut connection = session.connect(&path)?;
            let keys = listed(
                session,
                &list,
                |prefix, start, max| OmRequest::ListKeys {
                    volume: volume.clone(),
                    bucket: bucket.clone(),
                    prefix,
                    start,
                    max,
                },
                &mut connection,
                |response| match response {
                    OmResponse::Keys(keys) => Ok(keys),
                    other => Err(unexpected(other)),
                },
                |key| key.name.clone(),
            )
            .await?;
            print_keys(&keys, list.json);
            Ok(())
        }
        KeyCommand::Rename { uri, from, to } => {
            let path = session.path(&uri)?;
            let (volume, bucket) = path.bucket_only(&uri)?;
            let request = OmRequest::RenameKey {
                volume,
                bucket,
                from_key: from,
                to_key: to,
            };
            session.connect(&path)?.call(request).await.map(|_| ())
        }
        KeyCommand::Delete { uri } => {
            let path = session.path(&uri)?;
            let (volume, bucket, key) = path.key_path(&uri)?;
            session
                .connect(&path)?
                .call(OmRequest::DeleteKey {
                    volume,
                    bucket,
                    key,
                })
                .await
                .map(|_| ())
        }
    }
}

/// The user's `--meta` pairs plus `size` and `sha256` of the file's content.
fn key_metadata(file: &PathBuf, meta: &[String]) -> Result<BTreeMap<String, String>, Failure> {
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
    metadata.insert("size".to_string(), content.len().to_string());
    Ok(metadata)
}

fn print_keys(keys: &[om_server::om::KeyInfo], json: bool) {
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
                key.metadata
                    .get("sha256")
                    .cloned()
                    .unwrap_or_else(|| "-".to_string()),
                key.modification_time_ms.to_string(),
            ]
        })
        .collect();
    output::table(
        &["KEY", "SIZE", "REPLICATION", "SHA256", "MODIFIED_MS"],
        &rows,
    );
}
