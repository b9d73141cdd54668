//! The same ProxyShell mailbox export, as each collector writes the MSExchange Management event:
//! evtx_dump JSON lines, NXLog/OTRF flat JSON (only the rendered message), Velociraptor rows,
//! EvtxECmd CSV and Windows XML. Each is recognised by content (misleading names included) and
//! judged by the same Sigma rule; an unreadable look-alike is listed as skipped.

mod fixtures;

use fixtures::*;
use taskforce_evidence::Evidence;
use taskforce_hunt::{Options, hunt_host};
use taskforce_report::Verdict;
use taskforce_rules::RuleSet;
use taskforce_sigma::SigmaSet;

const PARAMS: &str = r#"-Mailbox "ceo@contoso.com" -FilePath "\\127.0.0.1\C$\inetpub\wwwroot\aspnet_client\x.aspx""#;

fn exports() -> Vec<(&'static str, String)> {
    let json_params = serde_json::Value::String(PARAMS.into()).to_string();
    let message =
        serde_json::Value::String(format!("Cmdlet succeeded. Cmdlet: New-MailboxExportRequest, parameters: {PARAMS}"))
            .to_string();
    let xml_params = PARAMS.replace('&', "&amp;").replace('"', "&quot;");
    let csv_payload =
        format!("{{\"EventData\":{{\"Data\":[\"New-MailboxExportRequest\",{json_params}]}}}}").replace('"', "\"\"");
    vec![
        (
            "evtx_dump/management.jsonl",
            format!(
                r##"{{"Event":{{"System":{{"Provider":{{"#attributes":{{"Name":"MSExchange CmdletLogs"}}}},"EventID":1,"Channel":"MSExchange Management","Computer":"EXCH01","EventRecordID":7,"TimeCreated":{{"#attributes":{{"SystemTime":"2021-08-21T10:03:10Z"}}}}}},"EventData":{{"Data":["New-MailboxExportRequest",{json_params}]}}}}}}"##
            ) + "\n",
        ),
        (
            "otrf/dataset.json",
            format!(
                r#"{{"@timestamp":"2021-08-21T10:03:10.000Z","Hostname":"EXCH01.contoso.local","Channel":"MSExchange Management","EventID":1,"SourceName":"MSExchange CmdletLogs","Message":{message}}}"#
            ) + "\n",
        ),
        (
            "velociraptor/Windows.EventLogs.Evtx.json",
            format!(
                r#"{{"EventTime":"2021-08-21T10:03:10Z","Computer":"EXCH01","Channel":"MSExchange Management","EventID":1,"EventRecordID":7,"EventData":{{"Data":["New-MailboxExportRequest",{json_params}]}},"Message":{message}}}"#
            ) + "\n",
        ),
        (
            "kape/EvtxECmd_Output.csv",
            format!(
                "RecordNumber,EventRecordId,TimeCreated,EventId,Level,Provider,Channel,ProcessId,ThreadId,Computer,ChunkNumber,UserId,MapDescription,UserName,RemoteHost,PayloadData1,PayloadData2,PayloadData3,PayloadData4,PayloadData5,PayloadData6,ExecutableInfo,HiddenRecord,SourceFile,Keywords,ExtraDataOffset,Payload\r\n1,7,2021-08-21 10:03:10.0000000,1,Info,MSExchange CmdletLogs,MSExchange Management,0,0,EXCH01,0,,,,,,,,,,,,False,x.evtx,Classic,0,\"{csv_payload}\"\r\n"
            ),
        ),
        (
            // Named like a text file: the content decides.
            "wevtutil/management.txt",
            format!(
                "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='MSExchange CmdletLogs'/><EventID Qualifiers='16384'>1</EventID><Level>4</Level><TimeCreated SystemTime='2021-08-21T10:03:10.000Z'/><EventRecordID>7</EventRecordID><Channel>MSExchange Management</Channel><Computer>EXCH01</Computer></System><EventData><Data>New-MailboxExportRequest</Data><Data>{xml_params}</Data></EventData></Event>\r\n"
            ),
        ),
    ]
}

#[test]
fn every_export_format_is_read_and_judged() {
    let sigma = SigmaSet::builtin();
    for (path, text) in exports() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), path, &text);
        let ev = Evidence::open(dir.path()).unwrap();
        let report = hunt_host(&ev, &RuleSet::builtin(), Options { sigma: Some(&sigma), ..Options::default() });
        let host = &report.host;
        assert!(
            host.findings.iter().any(|f| f.title.contains("Mailbox Exported to a Web Folder")),
            "{path}: {:#?} skipped {:?}",
            host.findings.iter().map(|f| &f.title).collect::<Vec<_>>(),
            report.skipped
        );
        assert_eq!(host.verdict, Verdict::Compromised, "{path}: {}", host.reason);
        assert!(
            host.coverage
                .iter()
                .any(|c| c.source == "EventLog"
                    && c.last.as_deref().is_some_and(|l| l.starts_with("2021-08-21T10:03:10"))),
            "{path}: {:?}",
            host.coverage
        );
        assert!(host.accounts.iter().any(|a| a.account == "ceo@contoso.com"), "{path}: {:?}", host.accounts);
    }
}

#[test]
fn a_broken_export_is_skipped_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (_, xml) = exports().pop().unwrap();
    write(dir.path(), "wevtutil/broken.xml", &format!("{xml}<Event><System><EventID>1</Channel>"));
    let ev = Evidence::open(dir.path()).unwrap();
    let sigma = SigmaSet::builtin();
    let report = hunt_host(&ev, &RuleSet::builtin(), Options { sigma: Some(&sigma), ..Options::default() });
    assert!(
        report.host.findings.iter().any(|f| f.title.contains("Mailbox Exported")),
        "the events before the damage count"
    );
    assert!(
        report.skipped.iter().any(|s| s.path.ends_with("broken.xml") && s.reason.contains("malformed XML")),
        "{:?}",
        report.skipped
    );
}
