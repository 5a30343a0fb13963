//! Ozone paths: `o3://<serviceId>/vol/bucket/key`, `o3://host:port/vol/...` (one OM),
//! `ofs://<serviceId>/vol/bucket/key`, `o3fs://bucket.volume.<serviceId>/key`, and plain
//! `/vol/bucket/key` (the default service). An authority without a port that is not a
//! configured service id is a host on the default port, as Ozone reads it.

use crate::failure::Failure;
use om_server::config::keys::CLIENT_PORT_DEFAULT;

/// Whom a command talks to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The default service (`ozone.om.internal.service.id`, else the only one listed).
    DefaultService,
    Service(String),
    /// One OM, no failover.
    Node {
        host: String,
        port: u16,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OzonePath {
    pub target: Target,
    pub volume: Option<String>,
    pub bucket: Option<String>,
    pub key: Option<String>,
}

fn usage(text: &str, reason: &str) -> Failure {
    Failure::Usage(format!("`{text}`: {reason}"))
}

/// Parses `text`; `is_service` says whether a name is a configured service id.
pub fn parse(text: &str, is_service: &dyn Fn(&str) -> bool) -> Result<OzonePath, Failure> {
    let Some((scheme, rest)) = text.split_once("://") else {
        return path_in(Target::DefaultService, text, text);
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    match scheme {
        "o3" | "ofs" => path_in(target_of(text, authority, is_service)?, path, text),
        "o3fs" => o3fs(text, authority, path, is_service),
        _ => Err(usage(text, "the scheme must be o3://, ofs:// or o3fs://")),
    }
}

fn target_of(
    text: &str,
    authority: &str,
    is_service: &dyn Fn(&str) -> bool,
) -> Result<Target, Failure> {
    if authority.is_empty() {
        return Ok(Target::DefaultService);
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => (host, Some(port)),
        _ => (authority, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match port {
        None if is_service(host) => Ok(Target::Service(host.to_string())),
        None => Ok(Target::Node {
            host: host.to_string(),
            port: CLIENT_PORT_DEFAULT,
        }),
        Some(_) if is_service(host) => Err(usage(
            text,
            &format!("`{host}` is a service id: a service id takes no port"),
        )),
        Some(port) => match port.parse::<u16>() {
            Ok(port) if port > 0 && !host.is_empty() => Ok(Target::Node {
                host: host.to_string(),
                port,
            }),
            _ => Err(usage(text, "expected host:port with a port of 1-65535")),
        },
    }
}

/// `vol[/bucket[/key...]]`; the key keeps its inner slashes.
fn path_in(target: Target, path: &str, text: &str) -> Result<OzonePath, Failure> {
    let path = path.trim_start_matches('/');
    let mut parts = path.splitn(3, '/');
    let mut part = || {
        parts
            .next()
            .filter(|part| !part.is_empty())
            .map(str::to_string)
    };
    let (volume, bucket, key) = (part(), part(), part());
    if volume.is_none() && bucket.is_some() {
        return Err(usage(text, "an empty volume name"));
    }
    Ok(OzonePath {
        target,
        volume,
        bucket,
        key,
    })
}

/// `o3fs://bucket.volume[.serviceId | .host[:port]]/key`.
fn o3fs(
    text: &str,
    authority: &str,
    path: &str,
    is_service: &dyn Fn(&str) -> bool,
) -> Result<OzonePath, Failure> {
    let mut parts = authority.splitn(3, '.');
    let (bucket, volume, rest) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
    let (Some(bucket), Some(volume)) = (
        bucket.filter(|b| !b.is_empty()),
        volume.filter(|v| !v.is_empty()),
    ) else {
        return Err(usage(
            text,
            "o3fs:// needs bucket.volume before the service",
        ));
    };
    let key = path.trim_start_matches('/');
    Ok(OzonePath {
        target: target_of(text, rest, is_service)?,
        volume: Some(volume.to_string()),
        bucket: Some(bucket.to_string()),
        key: (!key.is_empty()).then(|| key.to_string()),
    })
}

impl OzonePath {
    /// The volume, and nothing deeper.
    pub fn volume_only(&self, text: &str) -> Result<String, Failure> {
        match (&self.volume, &self.bucket) {
            (Some(volume), None) => Ok(volume.clone()),
            _ => Err(usage(
                text,
                "expected a volume path: o3://<service>/<volume>",
            )),
        }
    }

    /// Volume and bucket, and nothing deeper.
    pub fn bucket_only(&self, text: &str) -> Result<(String, String), Failure> {
        match (&self.volume, &self.bucket, &self.key) {
            (Some(volume), Some(bucket), None) => Ok((volume.clone(), bucket.clone())),
            _ => Err(usage(
                text,
                "expected a bucket path: o3://<service>/<volume>/<bucket>",
            )),
        }
    }

    pub fn key_path(&self, text: &str) -> Result<(String, String, String), Failure> {
        match (&self.volume, &self.bucket, &self.key) {
            (Some(volume), Some(bucket), Some(key)) => {
                Ok((volume.clone(), bucket.clone(), key.clone()))
            }
            _ => Err(usage(
                text,
                "expected a key path: o3://<service>/<volume>/<bucket>/<key>",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services(name: &str) -> bool {
        name == "cluster1"
    }

    fn parsed(text: &str) -> OzonePath {
        parse(text, &services).unwrap()
    }

    #[test]
    fn every_form_names_its_target_and_path() {
        let key = parsed("o3://cluster1/vol/bucket/dir/key");
        assert_eq!(key.target, Target::Service("cluster1".into()));
        assert_eq!(key.key.as_deref(), Some("dir/key"));
        let node = parsed("o3://127.0.0.1:9001/vol");
        assert_eq!(
            node.target,
            Target::Node {
                host: "127.0.0.1".into(),
                port: 9001
            }
        );
        assert_eq!(
            parsed("o3://om-host/vol").target,
            Target::Node {
                host: "om-host".into(),
                port: 9862
            }
        );
        assert_eq!(parsed("ofs://cluster1/vol/b").bucket.as_deref(), Some("b"));
        assert_eq!(parsed("/vol/b").target, Target::DefaultService);
        assert_eq!(parsed("o3:///vol").volume.as_deref(), Some("vol"));
        let o3fs = parsed("o3fs://bucket.volume.cluster1/a/b");
        assert_eq!(
            (
                o3fs.volume.as_deref(),
                o3fs.bucket.as_deref(),
                o3fs.key.as_deref()
            ),
            (Some("volume"), Some("bucket"), Some("a/b"))
        );
        assert_eq!(o3fs.target, Target::Service("cluster1".into()));
        let o3fs_node = parsed("o3fs://b.v.127.0.0.1:9001/k");
        assert_eq!(
            o3fs_node.target,
            Target::Node {
                host: "127.0.0.1".into(),
                port: 9001
            }
        );
        assert_eq!(parsed("o3fs://b.v/k").target, Target::DefaultService);
    }

    #[test]
    fn a_port_on_a_service_id_and_other_malformed_paths_are_usage_errors() {
        for bad in [
            "o3://cluster1:9862/vol",
            "o3fs://b.v.cluster1:9862/k",
            "o3://host:0/vol",
            "o3://host:port/vol",
            "s3://cluster1/vol",
            "o3fs://justbucket/k",
        ] {
            let failure = parse(bad, &services).unwrap_err();
            assert!(matches!(failure, Failure::Usage(_)), "{bad}: {failure:?}");
        }
        let path = parsed("o3://cluster1/vol/bucket");
        assert!(path.volume_only("x").is_err());
        assert!(path.key_path("x").is_err());
        assert_eq!(
            path.bucket_only("x").unwrap(),
            ("vol".into(), "bucket".into())
        );
    }
}
