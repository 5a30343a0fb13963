//! `ozone sh volume|bucket|key ...`: one OM request (or a short sequence) per command.
//! Info commands print JSON as Ozone does; lists print a table, or JSON with `--json`.

mod bucket;
mod key;
mod volume;

use crate::cli::ConfigArgs;
use crate::connection::Connection;
use crate::failure::Failure;
use crate::uri::{self, OzonePath};
use clap::{Args, Subcommand};
use om_server::config::OmConfig;
use om_server::om::{OmRequest, OmResponse, Quota};
use serde::Serialize;

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
    Volume(volume::VolumeCommand),
    #[command(subcommand)]
    Bucket(bucket::BucketCommand),
    /// Keys. This deployment has no datanodes: `put` records metadata only (size, SHA-256 of
    /// the content, --meta pairs); no data is stored or returned.
    #[command(subcommand)]
    Key(key::KeyCommand),
}

pub async fn run(arguments: ShArgs) -> Result<(), Failure> {
    let session = Session {
        config: arguments.config.load()?,
    };
    match arguments.command {
        ShCommand::Volume(command) => volume::run(&session, command).await,
        ShCommand::Bucket(command) => bucket::run(&session, command).await,
        ShCommand::Key(command) => key::run(&session, command).await,
    }
}

/// The configuration a command's paths are read against.
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

    /// The path and a connection to whom it names.
    fn open(&self, text: &str) -> Result<(OzonePath, Connection), Failure> {
        let path = self.path(text)?;
        let connection = Connection::open(&self.config, &path.target)?;
        Ok((path, connection))
    }

    /// Pages through a list: at most `list.length` entries, `ozone.om.server.list.max.size`
    /// per call, each page starting after the last name of the one before.
    async fn listed<T: Listed>(
        &self,
        connection: &mut Connection,
        list: &ListArgs,
        request: impl Fn(String, String, usize) -> OmRequest,
    ) -> Result<Vec<T>, Failure> {
        let mut all: Vec<T> = Vec::new();
        let mut start = list.start.clone();
        while all.len() < list.length {
            let page_max = (list.length - all.len()).min(self.config.list_entries_max);
            let answer = connection
                .call(request(list.prefix.clone(), start.clone(), page_max))
                .await?;
            let page = T::page(answer)?;
            let full = page.len() == page_max;
            if let Some(last) = page.last() {
                start = last.name().to_string();
            }
            all.extend(page);
            if !full {
                break;
            }
        }
        Ok(all)
    }
}

/// A record that lists come in pages of.
trait Listed: Sized {
    fn page(response: OmResponse) -> Result<Vec<Self>, Failure>;
    fn name(&self) -> &str;
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

fn unexpected(response: OmResponse) -> Failure {
    Failure::other("INTERNAL_ERROR", format!("unexpected answer {response:?}"))
}

/// Prints an info record as JSON.
fn info<T: Serialize>(record: &T) -> Result<(), Failure> {
    crate::output::json(record);
    Ok(())
}

/// A write's answer: nothing to print.
fn done(_: OmResponse) {}
