//! The shared record model: one HTTP request as the Exchange front end sees it. The same value
//! renders as an HttpProxy row and as an IIS W3C row, so planted attack requests and benign
//! traffic look alike in both logs.

use std::borrow::Cow;

/// An Exchange build, e.g. 15.1.2176.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Build {
    pub major: u32,
    pub minor: u32,
    pub build: u32,
    pub rev: u32,
}

impl Build {
    pub(crate) const fn new(major: u32, minor: u32, build: u32, rev: u32) -> Self {
        Build { major, minor, build, rev }
    }

    /// `15.1.2176.2`
    pub(crate) fn dotted(&self) -> String {
        format!("{}.{}.{}.{}", self.major, self.minor, self.build, self.rev)
    }

    /// `15.1.2176`: what OWA's static resource paths reveal.
    pub(crate) fn three(&self) -> String {
        format!("{}.{}.{}", self.major, self.minor, self.build)
    }

    /// `15.01.2176.002`: the `#Version:` header and `TargetServerVersion` form.
    pub(crate) fn padded(&self) -> String {
        format!("{:02}.{:02}.{:04}.{:03}", self.major, self.minor, self.build, self.rev)
    }
}

/// HttpProxy protocol folders (`Logging/HttpProxy/<folder>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Proto {
    Autodiscover,
    Ecp,
    Ews,
    Mapi,
    Owa,
    PowerShell,
    RpcHttp,
    Eas,
    Oab,
}

impl Proto {
    pub(crate) const ALL: [Proto; 9] = [
        Proto::Autodiscover,
        Proto::Ecp,
        Proto::Ews,
        Proto::Mapi,
        Proto::Owa,
        Proto::PowerShell,
        Proto::RpcHttp,
        Proto::Eas,
        Proto::Oab,
    ];

    /// Folder name under `Logging/HttpProxy`, which is also the `Protocol` column value.
    pub(crate) fn folder(self) -> &'static str {
        match self {
            Proto::Autodiscover => "Autodiscover",
            Proto::Ecp => "Ecp",
            Proto::Ews => "Ews",
            Proto::Mapi => "Mapi",
            Proto::Owa => "Owa",
            Proto::PowerShell => "PowerShell",
            Proto::RpcHttp => "RpcHttp",
            Proto::Eas => "Eas",
            Proto::Oab => "Oab",
        }
    }
}

pub(crate) type S<'a> = Cow<'a, str>;

/// One request through the Client Access front end.
#[derive(Debug, Clone)]
pub(crate) struct Req<'a> {
    /// End of the request (Exchange and IIS both log on completion).
    pub ts: i64,
    pub rid: [u8; 16],
    pub client_rid: Option<[u8; 16]>,
    pub proto: Proto,
    pub method: S<'a>,
    pub stem: S<'a>,
    /// Without the leading `?`.
    pub query: S<'a>,
    pub action: S<'a>,
    pub auth_type: S<'a>,
    pub authenticated: bool,
    /// HttpProxy `AuthenticatedUser` and IIS `cs-username` (empty: anonymous).
    pub user: S<'a>,
    pub anchor: S<'a>,
    pub ua: S<'a>,
    pub client_ip: S<'a>,
    pub status: u16,
    /// 0 = empty (the request never reached a back end).
    pub backend_status: u16,
    pub iis_substatus: u16,
    pub iis_win32: u32,
    pub error_code: S<'a>,
    /// `TargetServer`; empty when the front end answered by itself.
    pub target: S<'a>,
    /// `TargetServerVersion`; empty = the server's own build.
    pub target_version: S<'a>,
    pub routing_type: S<'a>,
    pub routing_hint: S<'a>,
    pub backend_cookie: S<'a>,
    pub req_bytes: u32,
    pub resp_bytes: u32,
    pub total_ms: u32,
    pub database_guid: S<'a>,
    pub user_guid: S<'a>,
    /// Appended to `GenericInfo`.
    pub generic_extra: S<'a>,
    pub referer: S<'a>,
    /// IIS query gets Exchange's `&CorrelationID=<empty>;&cafeReqId=…;` suffix.
    pub cafe: bool,
}

impl<'a> Req<'a> {
    pub(crate) fn new(ts: i64, rid: [u8; 16], proto: Proto) -> Self {
        Req {
            ts,
            rid,
            client_rid: None,
            proto,
            method: "GET".into(),
            stem: "".into(),
            query: "".into(),
            action: "".into(),
            auth_type: "".into(),
            authenticated: false,
            user: "".into(),
            anchor: "".into(),
            ua: "".into(),
            client_ip: "".into(),
            status: 200,
            backend_status: 0,
            iis_substatus: 0,
            iis_win32: 0,
            error_code: "".into(),
            target: "".into(),
            target_version: "".into(),
            routing_type: "".into(),
            routing_hint: "".into(),
            backend_cookie: "".into(),
            req_bytes: 0,
            resp_bytes: 0,
            total_ms: 10,
            database_guid: "".into(),
            user_guid: "".into(),
            generic_extra: "".into(),
            referer: "".into(),
            cafe: false,
        }
    }
}
