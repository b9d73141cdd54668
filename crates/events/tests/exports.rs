//! Each event export format as the tool that makes it writes it: recognised from content (never
//! the file name), read into the same `WinEvent`, bad records reported and skipped.

use taskforce_events::{EventFormat, WinEvent, read_export, sniff};

fn read(bytes: &[u8]) -> (EventFormat, Vec<WinEvent>, Vec<String>) {
    let format = sniff(&bytes[..bytes.len().min(4096)]).expect("recognised");
    let mut events = Vec::new();
    let out = read_export(bytes, format, &mut |e| events.push(e));
    (format, events, out.damage)
}

fn utc(e: &WinEvent) -> String {
    e.time.map(|t| t.to_string()).unwrap_or_default()
}

#[test]
fn nxlog_flat_json_lines() {
    // NXLog `im_msvistalog` + `to_json()`: system fields and event data side by side; the System
    // `ProcessID` beside Sysmon's own `ProcessId`.
    let text = concat!(
        r#"{"EventTime":"2021-03-03 04:05:06","Hostname":"EXCH01.corp.example","Keywords":-9214364837600034816,"EventType":"AUDIT_SUCCESS","SeverityValue":2,"Severity":"INFO","EventID":4688,"SourceName":"Microsoft-Windows-Security-Auditing","ProviderGuid":"{54849625-5478-4994-A5BA-3E3B0328C30D}","Version":2,"Task":13312,"OpcodeValue":0,"RecordNumber":1234,"ProcessID":4,"ThreadID":88,"Channel":"Security","Message":"A new process has been created.","SubjectUserSid":"S-1-5-18","NewProcessName":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd /c whoami","ParentProcessName":"c:\\windows\\system32\\inetsrv\\w3wp.exe","EventReceivedTime":"2021-03-03 04:05:07","SourceModuleName":"eventlog","SourceModuleType":"im_msvistalog"}"#,
        "\n",
        r#"{"EventTime":"2021-03-03 04:06:00","Hostname":"EXCH01.corp.example","EventID":1,"SourceName":"Microsoft-Windows-Sysmon","Channel":"Microsoft-Windows-Sysmon/Operational","ProcessID":2020,"ProcessId":"6666","Image":"C:\\Windows\\System32\\cmd.exe","RecordNumber":9}"#,
        "\n",
        "{broken\n",
    );
    let (format, events, damage) = read(text.as_bytes());
    assert_eq!(format, EventFormat::JsonLines);
    assert_eq!(events.len(), 2);
    let e = &events[0];
    assert_eq!((e.channel.as_str(), e.event_id, e.record_id), ("Security", 4688, 1234));
    assert_eq!(e.provider, "Microsoft-Windows-Security-Auditing");
    assert_eq!(e.computer, "EXCH01.corp.example");
    assert_eq!(utc(e), "2021-03-03T04:05:06Z");
    assert_eq!(e.get("NewProcessName"), Some("C:\\Windows\\System32\\cmd.exe"));
    assert_eq!(e.get("Message"), Some("A new process has been created."));
    assert!(e.get("SourceModuleType").is_none(), "collector fields are not event data");
    assert_eq!(events[1].named.iter().find(|(k, _)| k == "ProcessId").map(|(_, v)| v.as_str()), Some("6666"));
    assert_eq!(damage.len(), 1);
    assert!(damage[0].starts_with("line 3"), "{damage:?}");
}

#[test]
fn otrf_dataset_exchange_events_carry_only_the_message() {
    // OTRF Security-Datasets: `@timestamp`, `Hostname`, `Channel`, `EventID`, and for MSExchange
    // Management nothing but the rendered `Message`.
    let text = r#"{"@timestamp":"2021-03-05T01:02:03.000Z","Hostname":"EXCH01.corp.example","Channel":"MSExchange Management","EventID":1,"SourceName":"MSExchange CmdletLogs","Severity":"INFO","Message":"Cmdlet succeeded. Cmdlet: New-MailboxExportRequest, parameters: -Mailbox \"alice\" -FilePath \"\\\\localhost\\c$\\inetpub\\wwwroot\\aspnet_client\\x.aspx\""}"#;
    let (format, events, damage) = read(text.as_bytes());
    assert_eq!(format, EventFormat::JsonLines);
    assert!(damage.is_empty());
    let e = &events[0];
    assert_eq!((e.channel.as_str(), e.event_id), ("MSExchange Management", 1));
    assert_eq!(utc(e), "2021-03-05T01:02:03Z");
    assert!(e.get("Message").unwrap().contains("New-MailboxExportRequest"));
    assert!(e.summary().contains("aspnet_client"), "the message reaches the finding's excerpt");
}

#[test]
fn velociraptor_raw_and_artifact_rows() {
    let text = concat!(
        r#"{"System":{"Provider":{"Name":"Microsoft-Windows-Sysmon","Guid":"{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"},"EventID":{"Value":1},"Version":5,"Level":4,"Task":1,"Opcode":0,"Keywords":9223372036854775808,"TimeCreated":{"SystemTime":1614744306.5},"EventRecordID":42,"Correlation":{},"Execution":{"ProcessID":2020,"ThreadID":3030},"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"EXCH01.corp.example","Security":{"UserID":"S-1-5-18"}},"EventData":{"RuleName":"-","Image":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd /c whoami","ParentImage":"c:\\windows\\system32\\inetsrv\\w3wp.exe"},"Message":"Process Create:"}"#,
        "\n",
        r#"{"EventTime":"2021-03-03T04:05:06.5Z","Computer":"EXCH01","Channel":"Security","EventID":4720,"EventRecordID":77,"EventData":{"TargetUserName":"backdoor","SubjectUserName":"EXCH01$"},"Message":"A user account was created.","OSPath":"C:\\Windows\\System32\\winevt\\Logs\\Security.evtx"}"#,
        "\n",
    );
    let (format, events, damage) = read(text.as_bytes());
    assert_eq!(format, EventFormat::JsonLines);
    assert!(damage.is_empty(), "{damage:?}");
    let raw = &events[0];
    assert_eq!((raw.event_id, raw.level, raw.record_id), (1, 4, 42));
    assert_eq!(raw.provider, "Microsoft-Windows-Sysmon");
    assert_eq!(utc(raw), "2021-03-03T04:05:06.5Z");
    assert_eq!(raw.get("ParentImage"), Some("c:\\windows\\system32\\inetsrv\\w3wp.exe"));
    let row = &events[1];
    assert_eq!((row.channel.as_str(), row.event_id, row.record_id), ("Security", 4720, 77));
    assert_eq!(row.get("TargetUserName"), Some("backdoor"));
    assert_eq!(utc(row), "2021-03-03T04:05:06.5Z");
}

#[test]
fn evtxecmd_csv() {
    let text = concat!(
        "\u{feff}RecordNumber,EventRecordId,TimeCreated,EventId,Level,Provider,Channel,ProcessId,ThreadId,Computer,ChunkNumber,UserId,MapDescription,UserName,RemoteHost,PayloadData1,PayloadData2,PayloadData3,PayloadData4,PayloadData5,PayloadData6,ExecutableInfo,HiddenRecord,SourceFile,Keywords,ExtraDataOffset,Payload\r\n",
        "1,311,2021-03-03 04:05:06.1234567,4688,LogAlways,Microsoft-Windows-Security-Auditing,Security,4,88,EXCH01.corp.example,0,,A new process has been created,,,,,,,,,cmd /c whoami,False,C:\\kape\\Security.evtx,Audit success,0,\"{\"\"EventData\"\":{\"\"Data\"\":[{\"\"@Name\"\":\"\"SubjectUserSid\"\",\"\"#text\"\":\"\"S-1-5-18\"\"},{\"\"@Name\"\":\"\"NewProcessName\"\",\"\"#text\"\":\"\"C:\\\\Windows\\\\System32\\\\cmd.exe\"\"},{\"\"@Name\"\":\"\"ParentProcessName\"\",\"\"#text\"\":\"\"c:\\\\windows\\\\system32\\\\inetsrv\\\\w3wp.exe\"\"}]}}\"\r\n",
        "2,312,2021-03-05 01:02:03.0000000,1,Info,MSExchange CmdletLogs,MSExchange Management,0,0,EXCH01.corp.example,0,,,,,,,,,,,,False,C:\\kape\\MSExchange Management.evtx,Classic,0,\"{\"\"EventData\"\":{\"\"Data\"\":[\"\"New-MailboxExportRequest\"\",\"\"-Mailbox 'alice' -FilePath '\\\\\\\\localhost\\\\c$\\\\inetpub\\\\wwwroot\\\\aspnet_client\\\\x.aspx'\"\"]}}\"\r\n",
        "3,313,2021-03-05 01:02:04.0000000,notanumber,Info,P,Security,0,0,EXCH01,0,,,,,,,,,,,,False,x,Classic,0,\r\n",
        "4,314,2021-03-05 01:02:05.0000000,4720,Info,P,Security,0,0,EXCH01,0,,,,,,,,,,,,False,x,Classic,0,{not json}\r\n",
    );
    let (format, events, damage) = read(text.as_bytes());
    assert_eq!(format, EventFormat::EvtxECmdCsv);
    assert_eq!(events.len(), 2, "{damage:?}");
    let e = &events[0];
    assert_eq!((e.channel.as_str(), e.event_id, e.record_id), ("Security", 4688, 311));
    assert_eq!(utc(e), "2021-03-03T04:05:06.1234567Z");
    assert_eq!(e.get("NewProcessName"), Some("C:\\Windows\\System32\\cmd.exe"));
    let m = &events[1];
    assert_eq!(m.channel, "MSExchange Management");
    assert_eq!(m.unnamed[0], "New-MailboxExportRequest");
    assert!(m.unnamed[1].contains("aspnet_client"));
    assert_eq!(damage.len(), 2, "{damage:?}");
    assert!(damage[0].starts_with("row 3 ") && damage[0].contains("notanumber"), "{damage:?}");
    assert!(damage[1].starts_with("row 4 ") && damage[1].contains("Payload"), "{damage:?}");
}

const WEVTUTIL: &str = concat!(
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4720</EventID><Version>0</Version><Level>0</Level><Task>13824</Task><Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime='2021-03-03T04:05:06.1234567Z'/><EventRecordID>4242</EventRecordID><Correlation/><Execution ProcessID='636' ThreadID='4704'/><Channel>Security</Channel><Computer>EXCH01.corp.example</Computer><Security/></System><EventData><Data Name='TargetUserName'>backdoor</Data><Data Name='TargetDomainName'>CORP</Data><Data Name='SubjectUserName'>EXCH01$</Data><Data Name='PrivilegeList'>-</Data><Data Name='Empty'/></EventData><RenderingInfo Culture='en-US'><Message>A user account was created. &amp; &#x41;</Message></RenderingInfo></Event>",
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='MSExchange CmdletLogs'/><EventID Qualifiers='16384'>1</EventID><Level>4</Level><TimeCreated SystemTime='2021-03-05T01:02:03.000000000Z'/><EventRecordID>7</EventRecordID><Channel>MSExchange Management</Channel><Computer>EXCH01.corp.example</Computer></System><EventData><Data>New-MailboxExportRequest</Data><Data>-Mailbox &quot;alice&quot; -FilePath &quot;\\\\localhost\\c$\\inetpub\\wwwroot\\aspnet_client\\x.aspx&quot;</Data></EventData></Event>\r\n",
);

#[test]
fn wevtutil_xml_back_to_back_and_truncated() {
    let text =
        format!("{WEVTUTIL}<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>4");
    let (format, events, damage) = read(text.as_bytes());
    assert_eq!(format, EventFormat::Xml);
    assert_eq!(events.len(), 2);
    let e = &events[0];
    assert_eq!((e.channel.as_str(), e.event_id, e.record_id), ("Security", 4720, 4242));
    assert_eq!(e.provider, "Microsoft-Windows-Security-Auditing");
    assert_eq!(utc(e), "2021-03-03T04:05:06.1234567Z");
    assert_eq!(e.get("TargetUserName"), Some("backdoor"));
    assert_eq!(e.get("Empty"), Some(""));
    assert_eq!(e.get("Message"), Some("A user account was created. & A"));
    let m = &events[1];
    assert_eq!(
        m.unnamed,
        vec![
            "New-MailboxExportRequest".to_string(),
            "-Mailbox \"alice\" -FilePath \"\\\\localhost\\c$\\inetpub\\wwwroot\\aspnet_client\\x.aspx\"".to_string()
        ]
    );
    assert_eq!(damage.len(), 1);
    assert!(damage[0].contains("truncated"), "{damage:?}");
}

#[test]
fn event_viewer_save_as_xml_in_utf16() {
    // Event Viewer's "Save as XML" wraps events in <Events>; PowerShell's `>` writes UTF-16LE.
    let doc = format!("<?xml version=\"1.0\" encoding=\"utf-16\"?>\r\n<Events>{WEVTUTIL}</Events>");
    let mut bytes = vec![0xFF, 0xFE];
    for u in doc.encode_utf16() {
        bytes.extend_from_slice(&u.to_le_bytes());
    }
    let (format, events, damage) = read(&bytes);
    assert_eq!(format, EventFormat::Xml);
    assert!(damage.is_empty(), "{damage:?}");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].get("TargetUserName"), Some("backdoor"));
}

#[test]
fn malformed_xml_keeps_what_came_before() {
    let text = format!("{WEVTUTIL}<Event><System><EventID>1</Channel></Event>");
    let (_, events, damage) = read(text.as_bytes());
    assert_eq!(events.len(), 2);
    assert_eq!(damage.len(), 1);
    assert!(damage[0].contains("malformed XML after 2 events"), "{damage:?}");
}

#[test]
fn other_files_are_not_taken_for_events() {
    for head in [
        &b"#Software: Microsoft Internet Information Services 10.0\n#Fields: date time cs-uri-stem\n"[..],
        b"DateTime,RequestId,MajorVersion\n2021-03-03T00:00:00Z,1,15\n",
        b"{\"hosts\": []}\n",
        b"[1, 2, 3]\n",
        b"<html><body>hello</body></html>",
        b"plain words in a text file\n",
        b"",
    ] {
        assert_eq!(sniff(head), None, "{:?}", String::from_utf8_lossy(head));
    }
    assert_eq!(sniff(b"ElfFile\0rest"), Some(EventFormat::Evtx));
}
