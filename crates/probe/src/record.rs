//! The result of probing one target: the `taskforce.probe.v1` line.
//!
//! This is a contract (the service ingests it, people script against it): fields are only ever
//! added, never renamed or removed, without a new schema version. `README.md` documents each.

use std::net::IpAddr;

use serde::Serialize;
use taskforce_builds::{Build, FamilyStatus, Precision, Status};

use crate::client::ProbeError;
use crate::fingerprint::{Method, Signal};
use crate::targets::{Host, Scheme, Target};
use crate::tls::TlsInfo;

/// The value of every line's `schema` field.
pub const SCHEMA: &str = "taskforce.probe.v1";

/// One target's result.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub schema: &'static str,
    /// When the probe of this target started (RFC 3339, UTC).
    pub time: String,
    /// The host probed: the name, or the address (each address of a range is its own target).
    pub target: String,
    /// The argument or file line the target came from (e.g. the CIDR).
    pub input: String,
    pub scheme: Scheme,
    /// The address connected to (or the first one tried); `null` when the name did not resolve.
    pub address: Option<IpAddr>,
    pub port: u16,
    /// A TCP connection was established.
    pub reachable: bool,
    /// At least one Exchange signal was seen.
    pub exchange: bool,
    pub build: Option<Build>,
    pub precision: Option<Precision>,
    pub method: Option<Method>,
    pub product: Option<String>,
    pub cu: Option<String>,
    pub patch: Vec<FamilyStatus>,
    /// Why the target is taken for Exchange.
    pub signals: Vec<Signal>,
    /// HTTP status of the last OWA response (after redirects).
    pub http_status: Option<u16>,
    /// The `Server` header of that response.
    pub server: Option<String>,
    /// A redirect that was not followed because it leaves the target (other scheme or port).
    pub redirect: Option<String>,
    pub tls: Option<TlsInfo>,
    /// HTTP requests sent to this target, all attempts together.
    pub requests: u32,
    pub attempts: u32,
    pub timings: Timings,
    /// The first problem met; the fields above hold what was learnt despite it.
    pub error: Option<ProbeError>,
}

/// Milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub connect_ms: Option<u64>,
    pub tls_ms: Option<u64>,
    pub total_ms: u64,
}

impl Record {
    /// A target's record before anything is known about it.
    pub fn new(target: &Target) -> Record {
        Record {
            schema: SCHEMA,
            time: jiff::Timestamp::now().to_string(),
            target: target.host.to_string(),
            input: target.input.to_string(),
            scheme: target.scheme,
            address: match target.host {
                Host::Ip(ip) => Some(ip),
                Host::Name(_) => None,
            },
            port: target.port,
            reachable: false,
            exchange: false,
            build: None,
            precision: None,
            method: None,
            product: None,
            cu: None,
            patch: Vec::new(),
            signals: Vec::new(),
            http_status: None,
            server: None,
            redirect: None,
            tls: None,
            requests: 0,
            attempts: 0,
            timings: Timings::default(),
            error: None,
        }
    }

    /// Whether any family is `vulnerable`.
    pub fn vulnerable(&self) -> bool {
        self.patch.iter().any(|p| p.status == Status::Vulnerable)
    }

    /// The status of one family by name, for flat outputs.
    pub fn status_of(&self, family: taskforce_builds::Family) -> Option<Status> {
        self.patch.iter().find(|p| p.family == family).map(|p| p.status)
    }
}
