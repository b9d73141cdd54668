//! Where to look: the web folders and staging places of detections.md A.3, found by path suffix
//! anywhere in the evidence (`C/…`, `uploads/auto/C:/…`, `D/Exchange/…`, or a drive root copied
//! as is).

use serde::{Deserialize, Serialize};

/// The folder a file sits in, as far as the sweep is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    /// `inetpub\wwwroot\aspnet_client\**`: a stock install has no pages here.
    AspnetClient,
    /// `…\FrontEnd\HttpProxy\owa\auth\**`: stock sign-in pages plus static files.
    OwaAuth,
    /// `…\FrontEnd\HttpProxy\ecp\auth\**`: only `TimeoutLogout.aspx` is stock.
    EcpAuth,
    /// `…\FrontEnd\HttpProxy\OAB\**` and `…\ClientAccess\OAB\**`.
    Oab,
    /// The other Exchange web folders (`FrontEnd\HttpProxy\**`, `ClientAccess\**`).
    ExchangeWeb,
    /// `inetpub\wwwroot\**` outside `aspnet_client`.
    Wwwroot,
    /// `ProgramData\**` and its alias `Users\All Users\**`.
    ProgramData,
    /// `Windows\Temp\**`.
    WindowsTemp,
    /// `…\Temporary ASP.NET Files\**` (compiled pages).
    TempAspNet,
    /// `…\inetsrv\config\**` (`applicationHost.config`).
    IisConfig,
    /// `…\Bin\ExSetup.exe`: the installed build.
    ExchangeBin,
    /// `Users\Public\**`.
    UsersPublic,
    /// Anywhere else, brought in by a name or path IOC (an LSASS dump under `C:\root`, …).
    Other,
}

impl Area {
    /// The kebab-case name used in rule files and finding details (`aspnet-client`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Area::AspnetClient => "aspnet-client",
            Area::OwaAuth => "owa-auth",
            Area::EcpAuth => "ecp-auth",
            Area::Oab => "oab",
            Area::ExchangeWeb => "exchange-web",
            Area::Wwwroot => "wwwroot",
            Area::ProgramData => "program-data",
            Area::WindowsTemp => "windows-temp",
            Area::TempAspNet => "temp-aspnet",
            Area::IisConfig => "iis-config",
            Area::ExchangeBin => "exchange-bin",
            Area::UsersPublic => "users-public",
            Area::Other => "other",
        }
    }

    /// Folders that IIS serves (a page here can be requested).
    pub fn is_web_folder(self) -> bool {
        matches!(
            self,
            Area::AspnetClient | Area::OwaAuth | Area::EcpAuth | Area::Oab | Area::ExchangeWeb | Area::Wwwroot
        )
    }
}

impl std::fmt::Display for Area {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Folder markers, most specific first. Matched against `/` + the lowercased normalised path.
const MARKERS: &[(&str, Area)] = &[
    ("/inetpub/wwwroot/aspnet_client/", Area::AspnetClient),
    ("/frontend/httpproxy/owa/auth/", Area::OwaAuth),
    ("/frontend/httpproxy/ecp/auth/", Area::EcpAuth),
    ("/frontend/httpproxy/oab/", Area::Oab),
    ("/clientaccess/oab/", Area::Oab),
    ("/frontend/httpproxy/", Area::ExchangeWeb),
    ("/clientaccess/", Area::ExchangeWeb),
    ("/inetpub/wwwroot/", Area::Wwwroot),
    ("/temporary asp.net files/", Area::TempAspNet),
    ("/inetsrv/config/", Area::IisConfig),
    ("/windows/temp/", Area::WindowsTemp),
    ("/programdata/", Area::ProgramData),
    ("/users/all users/", Area::ProgramData),
    ("/users/public/", Area::UsersPublic),
];

/// A file placed in an area: the area and the path below the area's folder (original case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located<'a> {
    pub area: Area,
    /// Path below the area folder, `/`-separated, original case (`Current/one1.aspx`).
    pub rel: &'a str,
    /// The area folder's marker (lowercase), to rebuild web paths.
    pub marker: &'static str,
}

/// Finds the area of a normalised path (forward slashes, any root), case-insensitively.
pub(crate) fn locate(path: &str) -> Option<Located<'_>> {
    let path = path.trim_start_matches('/');
    let lower = format!("/{}", path.to_ascii_lowercase());
    if lower.ends_with("/bin/exsetup.exe") {
        return Some(Located {
            area: Area::ExchangeBin,
            rel: &path[path.len() - "exsetup.exe".len()..],
            marker: "/bin/",
        });
    }
    for &(marker, area) in MARKERS {
        if let Some(pos) = lower.find(marker) {
            // `lower` has one extra leading byte; ASCII lowercasing keeps byte offsets.
            let start = pos + marker.len() - 1;
            let rel = &path[start.min(path.len())..];
            if rel.is_empty() || rel.ends_with('/') {
                return None; // the folder itself
            }
            return Some(Located { area, rel, marker });
        }
    }
    None
}

/// The URL path a file in a web folder is served at (`/aspnet_client/x.aspx`,
/// `/owa/auth/Current/y.aspx`), for correlation with request logs. `None` outside web folders.
pub fn web_path(normalised_path: &str) -> Option<String> {
    let loc = locate(normalised_path)?;
    match loc.area {
        Area::AspnetClient => Some(format!("/aspnet_client/{}", loc.rel)),
        Area::OwaAuth => Some(format!("/owa/auth/{}", loc.rel)),
        Area::EcpAuth => Some(format!("/ecp/auth/{}", loc.rel)),
        Area::Oab => Some(format!("/oab/{}", loc.rel)),
        Area::ExchangeWeb | Area::Wwwroot => Some(format!("/{}", loc.rel)),
        _ => None,
    }
}

/// Top-level folders of a Windows system drive: an evidence path starting with one of them is
/// taken to be a copy of `C:\`.
const DRIVE_ROOT_DIRS: &[&str] = &[
    "windows",
    "program files",
    "program files (x86)",
    "programdata",
    "inetpub",
    "users",
    "documents and settings",
    "root",
    "perflogs",
];

/// The path as Windows would show it (`C:\inetpub\wwwroot\aspnet_client\x.aspx`), for the YARA
/// `filepath` variable, signature-base filename IOCs (`regex;score`, written for `\` paths) and
/// reports. The drive comes from a `C:` component (Velociraptor), else a one-letter folder (KAPE's
/// `C/…`), else `C:` when the path starts at a system folder; otherwise the path gets a leading `\`.
pub fn windows_path(normalised_path: &str) -> String {
    let parts: Vec<&str> = normalised_path.split('/').filter(|p| !p.is_empty()).collect();
    let is_letter = |p: &str| p.len() == 1 && p.as_bytes()[0].is_ascii_alphabetic();
    let is_drive = |p: &str| p.len() == 2 && p.as_bytes()[0].is_ascii_alphabetic() && p.as_bytes()[1] == b':';
    let (drive, rest): (String, &[&str]) = if let Some(i) = parts.iter().rposition(|p| is_drive(p)) {
        (parts[i].to_ascii_uppercase(), &parts[i + 1..])
    } else if let Some(i) = parts.iter().position(|p| is_letter(p)).filter(|&i| i + 1 < parts.len()) {
        (format!("{}:", parts[i].to_ascii_uppercase()), &parts[i + 1..])
    } else if parts.first().is_some_and(|p| DRIVE_ROOT_DIRS.contains(&p.to_ascii_lowercase().as_str())) {
        ("C:".to_string(), &parts[..])
    } else {
        (String::new(), &parts[..])
    };
    format!("{drive}\\{}", rest.join("\\"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_by_suffix_any_root() {
        let cases = [
            ("C/inetpub/wwwroot/aspnet_client/x.aspx", Area::AspnetClient, "x.aspx"),
            (
                "uploads/auto/C:/inetpub/wwwroot/aspnet_client/system_web/log.aspx",
                Area::AspnetClient,
                "system_web/log.aspx",
            ),
            ("inetpub/wwwroot/aspnet_client/X.ASPX", Area::AspnetClient, "X.ASPX"),
            (
                "D/Exchange/V15/FrontEnd/HttpProxy/owa/auth/Current/themes/resources/a.aspx",
                Area::OwaAuth,
                "Current/themes/resources/a.aspx",
            ),
            ("Program Files/Microsoft/Exchange Server/V15/FrontEnd/HttpProxy/ecp/auth/x.aspx", Area::EcpAuth, "x.aspx"),
            ("C/Program Files/Microsoft/Exchange Server/V15/FrontEnd/HttpProxy/OAB/log.aspx", Area::Oab, "log.aspx"),
            (
                "C/Program Files/Microsoft/Exchange Server/V15/FrontEnd/HttpProxy/ews/web.config",
                Area::ExchangeWeb,
                "ews/web.config",
            ),
            ("C/ProgramData/COM1/a.aspx", Area::ProgramData, "COM1/a.aspx"),
            ("C/Users/All Users/ZING/a.aspx", Area::ProgramData, "ZING/a.aspx"),
            ("C/Windows/Temp/lsass.dmp", Area::WindowsTemp, "lsass.dmp"),
            (
                "C/Windows/Microsoft.NET/Framework64/v4.0.30319/Temporary ASP.NET Files/root/a/b/App_Web_x.dll",
                Area::TempAspNet,
                "root/a/b/App_Web_x.dll",
            ),
            ("C/Windows/System32/inetsrv/config/applicationHost.config", Area::IisConfig, "applicationHost.config"),
            ("C/Program Files/Microsoft/Exchange Server/V15/Bin/ExSetup.exe", Area::ExchangeBin, "ExSetup.exe"),
            ("C/Users/Public/opera/Opera_browser.exe", Area::UsersPublic, "opera/Opera_browser.exe"),
        ];
        for (path, area, rel) in cases {
            let loc = locate(path).unwrap_or_else(|| panic!("{path} not located"));
            assert_eq!((loc.area, loc.rel), (area, rel), "{path}");
        }
        assert!(locate("C/Program Files/Microsoft/Exchange Server/V15/Logging/HttpProxy/Owa/x.log").is_none());
        assert!(locate("C/inetpub/logs/LogFiles/W3SVC1/u_ex210302.log").is_none());
        assert!(locate("C/Windows/System32/config/SYSTEM").is_none());
        assert!(locate("C/inetpub/wwwroot/aspnet_client/").is_none());
    }

    #[test]
    fn web_paths() {
        assert_eq!(web_path("C/inetpub/wwwroot/aspnet_client/x.aspx").as_deref(), Some("/aspnet_client/x.aspx"));
        assert_eq!(
            web_path("x/V15/FrontEnd/HttpProxy/owa/auth/Current/y.aspx").as_deref(),
            Some("/owa/auth/Current/y.aspx")
        );
        assert_eq!(web_path("x/V15/FrontEnd/HttpProxy/ecp/auth/z.aspx").as_deref(), Some("/ecp/auth/z.aspx"));
        assert_eq!(web_path("C/inetpub/wwwroot/iisstart.htm").as_deref(), Some("/iisstart.htm"));
        assert_eq!(web_path("C/ProgramData/x.zip"), None);
    }

    #[test]
    fn windows_paths() {
        assert_eq!(windows_path("C/ProgramData/it.zip"), "C:\\ProgramData\\it.zip");
        assert_eq!(windows_path("uploads/auto/C:/Windows/Temp/xx.bat"), "C:\\Windows\\Temp\\xx.bat");
        assert_eq!(windows_path("inetpub/wwwroot/aspnet_client/a.aspx"), "C:\\inetpub\\wwwroot\\aspnet_client\\a.aspx");
        assert_eq!(windows_path("D/Exchange/V15/Bin/ExSetup.exe"), "D:\\Exchange\\V15\\Bin\\ExSetup.exe");
        assert_eq!(windows_path("collection/misc/a.txt"), "\\collection\\misc\\a.txt");
    }
}
