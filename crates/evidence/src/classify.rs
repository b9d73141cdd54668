//! What a file is, from its path suffix.

/// The log source a path points to, before its content confirms it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathHint {
    HttpProxy,
    Ecp,
    OabGenerator,
    Iis,
    CmdletLog,
    /// A Windows event log (`.evtx`).
    EventLog,
    /// Not a known log location; the hunt may still sniff its content.
    Other,
}

/// Forward slashes, Velociraptor's `%3A` (and `%5C`) decoded, no leading `./` or `/`.
pub fn normalise(path: &str) -> String {
    let mut p = path.replace('\\', "/");
    for (enc, dec) in [("%3A", ":"), ("%3a", ":"), ("%5C", "/"), ("%5c", "/"), ("%2F", "/"), ("%2f", "/")] {
        if p.contains(enc) {
            p = p.replace(enc, dec);
        }
    }
    while let Some(rest) = p.strip_prefix("./") {
        p = rest.to_string();
    }
    p.trim_start_matches('/').to_string()
}

/// Classifies a normalised path by its suffix: the folder names Exchange and IIS use, wherever
/// the install root is (`C:\Program Files\…\V15\Logging`, `D:\Exchange\Logging`, a KAPE copy…).
pub fn classify(path: &str) -> PathHint {
    let lower = format!("/{}", path.to_ascii_lowercase());
    let lower = lower.strip_suffix(".gz").unwrap_or(&lower);
    let name = lower.rsplit('/').next().unwrap_or("");
    let dir = &lower[..lower.len() - name.len()];
    if name.ends_with(".evtx") {
        PathHint::EventLog
    } else if dir.contains("/logging/httpproxy/") || name.starts_with("httpproxy_") {
        PathHint::HttpProxy
    } else if dir.contains("/logging/ecp/server/")
        || dir.contains("/logging/ecp/activity/")
        || name.starts_with("ecpserver")
        || name.starts_with("ecpactivity")
    {
        PathHint::Ecp
    } else if dir.contains("/logging/oabgeneratorlog/") || name.starts_with("oabgenerator") {
        PathHint::OabGenerator
    } else if dir.contains("/logging/cmdletinfra/") || name.starts_with("rps_cmdlet_") || name.contains("_cmdlet_") {
        PathHint::CmdletLog
    } else if (name.starts_with("u_ex") || name.starts_with("ex")) && name.ends_with(".log")
        || dir.contains("/logfiles/w3svc")
    {
        PathHint::Iis
    } else {
        PathHint::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let cases = [
            (
                "Program Files/Microsoft/Exchange Server/V15/Logging/HttpProxy/Ecp/HttpProxy_2021030304-1.LOG",
                PathHint::HttpProxy,
            ),
            ("C/Program Files/Microsoft/Exchange Server/V15/Logging/ECP/Server/ECPServer20210303-1.LOG", PathHint::Ecp),
            (
                "uploads/auto/C%3A/Program Files/Microsoft/Exchange Server/V15/Logging/OABGeneratorLog/OABGenerator_2021030304-1.LOG",
                PathHint::OabGenerator,
            ),
            (
                "D:\\Exchange\\Logging\\CmdletInfra\\Powershell-Proxy\\Cmdlet\\Rps_Cmdlet_2021082110-1.LOG",
                PathHint::CmdletLog,
            ),
            ("C/inetpub/logs/LogFiles/W3SVC1/u_ex210304.log", PathHint::Iis),
            ("loose/u_ex210304.log", PathHint::Iis),
            ("loose/HttpProxy_2021030304-1.LOG", PathHint::HttpProxy),
            ("C/Windows/System32/inetsrv/config/applicationHost.config", PathHint::Other),
            ("readme.txt", PathHint::Other),
            ("C/Windows/System32/winevt/Logs/MSExchange Management.evtx", PathHint::EventLog),
            ("C/inetpub/logs/LogFiles/W3SVC1/u_ex210304.log.gz", PathHint::Iis),
        ];
        for (path, hint) in cases {
            assert_eq!(classify(&normalise(path)), hint, "{path}");
        }
        assert_eq!(normalise("uploads/auto/C%3A/x"), "uploads/auto/C:/x");
        assert_eq!(normalise("./a\\b"), "a/b");
    }
}
