//! Why a command failed: one line on stderr (Ozone's code name first) and an exit code.

use om_server::config::ConfigError;
use om_server::OmError;
use std::process::ExitCode;

/// Exit codes (also in `ozone --help`).
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_NOT_FOUND: u8 = 3;
pub const EXIT_UNAVAILABLE: u8 = 4;
pub const EXIT_CONFIGURATION: u8 = 5;

pub const EXIT_CODES_HELP: &str = "Exit codes: 0 success; 1 an OM error (its code is printed, \
e.g. VOLUME_ALREADY_EXISTS) or another failure; 2 usage error (arguments, path); 3 not found \
(VOLUME_NOT_FOUND, BUCKET_NOT_FOUND, KEY_NOT_FOUND); 4 cluster unavailable (no OM answered, \
NOT_LEADER from a single OM named by host:port, LEADER_NOT_READY, INTERNAL_ERROR); \
5 configuration error (ozone-site.xml, --conf, node id).";

#[derive(Debug)]
pub enum Failure {
    /// Bad arguments or path.
    Usage(String),
    Configuration(ConfigError),
    /// The OM answered with an error.
    Om(OmError),
    /// No OM answered within the failover budget.
    Unavailable(String),
    /// Anything else (storage, initialisation state, I/O): its own code name.
    Other {
        code: &'static str,
        message: String,
    },
}

impl Failure {
    pub fn other(code: &'static str, message: impl Into<String>) -> Failure {
        Failure::Other {
            code,
            message: message.into(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => EXIT_USAGE,
            Failure::Configuration(_) => EXIT_CONFIGURATION,
            Failure::Om(error) => om_exit_code(error),
            Failure::Unavailable(_) => EXIT_UNAVAILABLE,
            Failure::Other { .. } => EXIT_FAILURE,
        }
    }

    /// The one line printed on stderr.
    pub fn line(&self) -> String {
        match self {
            Failure::Usage(message) => format!("USAGE_ERROR: {message}"),
            Failure::Configuration(error) => format!("CONFIGURATION_ERROR: {error}"),
            Failure::Om(error) => om_line(error),
            Failure::Unavailable(message) => format!("SERVICE_UNAVAILABLE: {message}"),
            Failure::Other { code, message } => format!("{code}: {message}"),
        }
    }

    pub fn report(&self) -> ExitCode {
        eprintln!("{}", self.line());
        ExitCode::from(self.exit_code())
    }
}

fn om_exit_code(error: &OmError) -> u8 {
    match error {
        OmError::VolumeNotFound | OmError::BucketNotFound | OmError::KeyNotFound => EXIT_NOT_FOUND,
        OmError::NotLeader { .. } | OmError::LeaderNotReady | OmError::InternalError(_) => {
            EXIT_UNAVAILABLE
        }
        _ => EXIT_FAILURE,
    }
}

fn om_line(error: &OmError) -> String {
    let detail = match error {
        OmError::InvalidVolumeName => "volume names are 3-63 characters of a-z, 0-9, '.', '-'",
        OmError::InvalidBucketName => "bucket names are 3-63 characters of a-z, 0-9, '.', '-'",
        OmError::InvalidKeyName => "key names are non-empty UTF-8 of at most 1024 bytes",
        OmError::VolumeAlreadyExists => "the volume exists",
        OmError::BucketAlreadyExists => "the bucket exists",
        OmError::KeyAlreadyExists => "the target key exists",
        OmError::VolumeNotFound => "no such volume",
        OmError::BucketNotFound => "no such bucket",
        OmError::KeyNotFound => "no such key",
        OmError::VolumeNotEmpty => "the volume has buckets",
        OmError::BucketNotEmpty => "the bucket has keys",
        OmError::QuotaExceeded => "over quota",
        OmError::InvalidRequest => "the request is not valid",
        OmError::RetryRequestMismatch => "a call id was reused with another request",
        OmError::NotLeader { .. } | OmError::LeaderNotReady | OmError::InternalError(_) => {
            // Their Display starts with the code already.
            return error.to_string();
        }
    };
    format!("{}: {detail}", error.code())
}

impl From<ConfigError> for Failure {
    fn from(error: ConfigError) -> Self {
        Failure::Configuration(error)
    }
}

impl From<OmError> for Failure {
    fn from(error: OmError) -> Self {
        Failure::Om(error)
    }
}
