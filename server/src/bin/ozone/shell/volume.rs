//! `ozone sh volume create|info|list|update|delete`.

use super::{done, info, unexpected, ListArgs, Listed, QuotaArgs, Session};
use crate::failure::Failure;
use crate::output;
use clap::Subcommand;
use om_server::om::{OmRequest, OmResponse, Quota, VolumeInfo};

#[derive(Subcommand, Debug)]
pub(super) enum VolumeCommand {
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

pub(super) async fn run(session: &Session, command: VolumeCommand) -> Result<(), Failure> {
    match command {
        VolumeCommand::Create { uri, user, quota } => create(session, &uri, user, &quota).await,
        VolumeCommand::Info { uri } => {
            let (path, mut connection) = session.open(&uri)?;
            let volume = path.volume_only(&uri)?;
            match connection.call(OmRequest::VolumeInfo { volume }).await? {
                OmResponse::Volume(volume) => info(&volume),
                other => Err(unexpected(other)),
            }
        }
        VolumeCommand::List { uri, list } => {
            let (path, mut connection) = session.open(uri.as_deref().unwrap_or("/"))?;
            if path.volume.is_some() {
                return Err(Failure::Usage(
                    "volume list takes a service, not a volume".into(),
                ));
            }
            let request = |prefix, start, max| OmRequest::ListVolumes { prefix, start, max };
            let volumes = session.listed(&mut connection, &list, request).await?;
            print(&volumes, list.json);
            Ok(())
        }
        VolumeCommand::Update { uri, user, quota } => update(session, &uri, user, &quota).await,
        VolumeCommand::Delete { uri } => {
            let (path, mut connection) = session.open(&uri)?;
            let volume = path.volume_only(&uri)?;
            connection
                .call(OmRequest::DeleteVolume { volume })
                .await
                .map(done)
        }
    }
}

fn default_owner() -> String {
    #[allow(clippy::disallowed_methods)] // the CLI user's name, as Ozone takes the login's
    let user = std::env::var("USER");
    user.unwrap_or_else(|_| "ozone".to_string())
}

async fn create(
    session: &Session,
    uri: &str,
    user: Option<String>,
    quota: &QuotaArgs,
) -> Result<(), Failure> {
    let (path, mut connection) = session.open(uri)?;
    let request = OmRequest::CreateVolume {
        volume: path.volume_only(uri)?,
        owner: user.unwrap_or_else(default_owner),
        quota: quota.merged(Quota::default())?,
    };
    connection.call(request).await.map(done)
}

/// Owner and quota are two requests; a quota flag left out keeps its current value.
async fn update(
    session: &Session,
    uri: &str,
    user: Option<String>,
    quota: &QuotaArgs,
) -> Result<(), Failure> {
    if !quota.is_set() && user.is_none() {
        return Err(Failure::Usage(
            "volume update needs --user, --quota or --namespace-quota".into(),
        ));
    }
    let (path, mut connection) = session.open(uri)?;
    let volume = path.volume_only(uri)?;
    if let Some(owner) = user {
        let request = OmRequest::SetVolumeOwner {
            volume: volume.clone(),
            owner,
        };
        connection.call(request).await?;
    }
    if quota.is_set() {
        let request = OmRequest::VolumeInfo {
            volume: volume.clone(),
        };
        let current = match connection.call(request).await? {
            OmResponse::Volume(info) => Quota {
                bytes: info.quota_bytes,
                namespace: info.quota_namespace,
            },
            other => return Err(unexpected(other)),
        };
        let quota = quota.merged(current)?;
        connection
            .call(OmRequest::SetVolumeQuota { volume, quota })
            .await?;
    }
    Ok(())
}

impl Listed for VolumeInfo {
    fn page(response: OmResponse) -> Result<Vec<Self>, Failure> {
        match response {
            OmResponse::Volumes(volumes) => Ok(volumes),
            other => Err(unexpected(other)),
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}

fn print(volumes: &[VolumeInfo], json: bool) {
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
    let header = [
        "VOLUME",
        "OWNER",
        "QUOTA",
        "NS_QUOTA",
        "USED_BYTES",
        "BUCKETS",
    ];
    output::table(&header, &rows);
}
