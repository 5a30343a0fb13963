//! `ozone sh bucket create|info|list|update|delete`.

use super::{done, info, unexpected, ListArgs, Listed, QuotaArgs, Session};
use crate::failure::Failure;
use crate::output;
use clap::{Subcommand, ValueEnum};
use om_server::om::{BucketInfo, BucketLayout, OmRequest, OmResponse, Quota};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(super) enum Layout {
    ObjectStore,
    FileSystemOptimized,
    Legacy,
}

#[derive(Subcommand, Debug)]
pub(super) enum BucketCommand {
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

pub(super) async fn run(session: &Session, command: BucketCommand) -> Result<(), Failure> {
    match command {
        BucketCommand::Create {
            uri,
            versioning,
            layout,
            quota,
        } => {
            let (path, mut connection) = session.open(&uri)?;
            let (volume, bucket) = path.bucket_only(&uri)?;
            let request = OmRequest::CreateBucket {
                volume,
                bucket,
                versioning,
                layout: layout_of(layout),
                quota: quota.merged(Quota::default())?,
            };
            connection.call(request).await.map(done)
        }
        BucketCommand::Info { uri } => {
            let (path, mut connection) = session.open(&uri)?;
            let (volume, bucket) = path.bucket_only(&uri)?;
            match connection
                .call(OmRequest::BucketInfo { volume, bucket })
                .await?
            {
                OmResponse::Bucket(bucket) => info(&bucket),
                other => Err(unexpected(other)),
            }
        }
        BucketCommand::List { uri, list } => {
            let (path, mut connection) = session.open(&uri)?;
            let volume = path.volume_only(&uri)?;
            let request = |prefix, start, max| OmRequest::ListBuckets {
                volume: volume.clone(),
                prefix,
                start,
                max,
            };
            let buckets = session.listed(&mut connection, &list, request).await?;
            print(&buckets, list.json);
            Ok(())
        }
        BucketCommand::Update {
            uri,
            versioning,
            quota,
        } => update(session, &uri, versioning, &quota).await,
        BucketCommand::Delete { uri } => {
            let (path, mut connection) = session.open(&uri)?;
            let (volume, bucket) = path.bucket_only(&uri)?;
            connection
                .call(OmRequest::DeleteBucket { volume, bucket })
                .await
                .map(done)
        }
    }
}

fn layout_of(layout: Layout) -> BucketLayout {
    match layout {
        Layout::ObjectStore => BucketLayout::ObjectStore,
        Layout::FileSystemOptimized => BucketLayout::FileSystemOptimized,
        Layout::Legacy => BucketLayout::Legacy,
    }
}

/// One `SetBucketProperty`; a quota flag left out keeps its current value.
async fn update(
    session: &Session,
    uri: &str,
    versioning: Option<bool>,
    quota: &QuotaArgs,
) -> Result<(), Failure> {
    if !quota.is_set() && versioning.is_none() {
        return Err(Failure::Usage(
            "bucket update needs --versioning, --quota or --namespace-quota".into(),
        ));
    }
    let (path, mut connection) = session.open(uri)?;
    let (volume, bucket) = path.bucket_only(uri)?;
    let quota = if quota.is_set() {
        let request = OmRequest::BucketInfo {
            volume: volume.clone(),
            bucket: bucket.clone(),
        };
        let current = match connection.call(request).await? {
            OmResponse::Bucket(info) => Quota {
                bytes: info.quota_bytes,
                namespace: info.quota_namespace,
            },
            other => return Err(unexpected(other)),
        };
        Some(quota.merged(current)?)
    } else {
        None
    };
    let request = OmRequest::SetBucketProperty {
        volume,
        bucket,
        versioning,
        quota,
    };
    connection.call(request).await.map(done)
}

impl Listed for BucketInfo {
    fn page(response: OmResponse) -> Result<Vec<Self>, Failure> {
        match response {
            OmResponse::Buckets(buckets) => Ok(buckets),
            other => Err(unexpected(other)),
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}

fn print(buckets: &[BucketInfo], json: bool) {
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
    let header = [
        "BUCKET",
        "LAYOUT",
        "VERSIONING",
        "QUOTA",
        "USED_BYTES",
        "KEYS",
    ];
    output::table(&header, &rows);
}
