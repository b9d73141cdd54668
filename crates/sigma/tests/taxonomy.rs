//! Sigma's Windows log source taxonomy against the router: for every category and service it
//! defines, an event as Windows writes it (a real `.evtx` from our writer, read back through the
//! `evtx` crate) must reach a rule of that log source, and must not reach a rule of a
//! neighbouring one. Categories from the taxonomy's Sysmon mapping (pySigma's sysmon pipeline)
//! and its Windows channel table (pySigma's `windows_logsource_mapping`).

use std::path::PathBuf;

use taskforce_events::{WinEvent, read_evtx};
use taskforce_evtx_writer::{Event as WriterEvent, EventData, write_evtx};
use taskforce_sigma::SigmaSet;

const SYSMON: &str = "Microsoft-Windows-Sysmon/Operational";

/// One event written to a real EVTX file and read back.
fn as_windows_writes_it(channel: &str, provider: &str, event_id: u32, data: &[(&str, &str)]) -> WinEvent {
    let written = WriterEvent {
        provider: provider.into(),
        event_id,
        level: 4,
        channel: channel.into(),
        computer: "EXCH01.corp.example".into(),
        time: std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_614_902_400),
        record_id: 1,
        data: EventData::Named(data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
    };
    let bytes = write_evtx(&[written]);
    let mut back = Vec::new();
    let out = read_evtx(std::io::Cursor::new(bytes), 1, &mut |e| back.push(e)).unwrap();
    assert!(out.damage.is_empty(), "{:?}", out.damage);
    assert_eq!(back.len(), 1);
    back.pop().unwrap()
}

/// A one-rule set for `logsource` whose selection is `detection` (YAML lines under `selection:`).
fn rule(dir: &tempfile::TempDir, name: &str, logsource: &str, detection: &str) -> SigmaSet {
    let path: PathBuf = dir.path().join(format!("{name}.yml"));
    let body = format!(
        "title: taxonomy check {name}\nid: 5d1c0a7e-0000-4000-8000-{:012x}\nstatus: test\nlogsource:\n    product: windows\n    {logsource}\ndetection:\n    selection:\n{detection}\n    condition: selection\nlevel: high\n",
        name.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))) & 0xffff_ffff_ffff
    );
    std::fs::write(&path, body).unwrap();
    let set = SigmaSet::load(false, &[path]);
    assert_eq!(set.len(), 1, "{name}: {:?}", set.skipped);
    set
}

fn sysmon(event_id: u32, data: &[(&str, &str)]) -> WinEvent {
    as_windows_writes_it(SYSMON, "Microsoft-Windows-Sysmon", event_id, data)
}

#[test]
fn every_sysmon_category_reaches_its_rules() {
    let dir = tempfile::tempdir().unwrap();
    // (category, event id, EventType where Sysmon writes one)
    let cases: &[(&str, u32, Option<&str>)] = &[
        ("process_creation", 1, None),
        ("file_change", 2, None),
        ("network_connection", 3, None),
        ("sysmon_status", 4, None),
        ("process_termination", 5, None),
        ("driver_load", 6, None),
        ("image_load", 7, None),
        ("create_remote_thread", 8, None),
        ("raw_access_thread", 9, None),
        ("process_access", 10, None),
        ("file_event", 11, None),
        ("registry_add", 12, Some("CreateKey")),
        ("registry_delete", 12, Some("DeleteKey")),
        ("registry_delete", 12, Some("DeleteValue")),
        ("registry_event", 12, Some("DeleteValue")),
        ("registry_set", 13, Some("SetValue")),
        ("registry_event", 13, Some("SetValue")),
        ("registry_rename", 14, Some("RenameKey")),
        ("registry_event", 14, Some("RenameKey")),
        ("create_stream_hash", 15, None),
        ("sysmon_status", 16, None),
        ("pipe_created", 17, None),
        ("pipe_created", 18, None),
        ("wmi_event", 19, None),
        ("wmi_event", 20, None),
        ("wmi_event", 21, None),
        ("dns_query", 22, None),
        ("file_delete", 23, None),
        ("clipboard_capture", 24, None),
        ("process_tampering", 25, None),
        ("file_delete", 26, None),
        ("file_delete_detected", 26, None),
        ("file_block_executable", 27, None),
        ("file_block_shredding", 28, None),
        ("file_executable_detected", 29, None),
        ("sysmon_error", 255, None),
    ];
    for (i, (category, id, event_type)) in cases.iter().enumerate() {
        let set = rule(
            &dir,
            &format!("{category}_{i}"),
            &format!("category: {category}"),
            "        Image|endswith: '\\taxonomy-check.exe'",
        );
        let mut data = vec![("RuleName", "-"), ("UtcTime", "2021-03-05 00:00:00.000")];
        if let Some(t) = event_type {
            data.push(("EventType", t));
        }
        data.push(("Image", "C:\\Windows\\Temp\\taxonomy-check.exe"));
        let event = sysmon(*id, &data);
        assert_eq!(set.evaluate_event(&event).len(), 1, "{category} rule on Sysmon {id} {event_type:?}");
        // The same rule written for `service: sysmon` also sees it.
    }
    let service = rule(&dir, "service_sysmon", "service: sysmon", "        Image|endswith: '\\taxonomy-check.exe'");
    assert_eq!(service.evaluate_event(&sysmon(1, &[("Image", "C:\\x\\taxonomy-check.exe")])).len(), 1);
}

#[test]
fn registry_add_and_delete_are_told_apart_by_event_type() {
    // The RunMRU history wiped by deleting its values: a `registry_delete` rule's case.
    let dir = tempfile::tempdir().unwrap();
    let delete = rule(
        &dir,
        "runmru_delete",
        "category: registry_delete",
        "        TargetObject|contains: '\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\RunMRU'",
    );
    let add = rule(
        &dir,
        "runmru_add",
        "category: registry_add",
        "        TargetObject|contains: '\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\RunMRU'",
    );
    let event = |t: &str| {
        sysmon(
            12,
            &[
                ("RuleName", "-"),
                ("EventType", t),
                ("UtcTime", "2021-03-05 01:02:03.456"),
                ("ProcessGuid", "{5770385f-0000-0000-0000-000000000000}"),
                ("ProcessId", "4242"),
                ("Image", "C:\\Windows\\regedit.exe"),
                (
                    "TargetObject",
                    "HKU\\S-1-5-21-1-2-3-500\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\RunMRU\\a",
                ),
                ("User", "CORP\\admin"),
            ],
        )
    };
    assert_eq!(delete.evaluate_event(&event("DeleteValue")).len(), 1);
    assert_eq!(delete.evaluate_event(&event("DeleteKey")).len(), 1);
    assert!(delete.evaluate_event(&event("CreateKey")).is_empty(), "a key created is not a deletion");
    assert_eq!(add.evaluate_event(&event("CreateKey")).len(), 1);
    assert!(add.evaluate_event(&event("DeleteValue")).is_empty(), "a deletion is not a key created");
    // A trimmed export without EventType still reaches both rather than neither.
    let untyped =
        sysmon(12, &[("TargetObject", "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\RunMRU")]);
    assert_eq!(delete.evaluate_event(&untyped).len(), 1);
    assert_eq!(add.evaluate_event(&untyped).len(), 1);
}

#[test]
fn defender_fields_are_found_by_sigma_names_without_spaces() {
    // Defender 1119 (remediation failed) writes `Threat Name`, `Source Name`, `Process Name`;
    // Sigma rules for `service: windefend` name them `ThreatName`, `SourceName`, `ProcessName`.
    let dir = tempfile::tempdir().unwrap();
    let set = rule(
        &dir,
        "defender_1119",
        "service: windefend",
        "        EventID: 1119\n        SourceName: 'Real-Time Protection'\n        ThreatName|endswith: 'EICAR_Test_File'\n        Path|endswith: '\\taxonomy-check.exe'",
    );
    let event = as_windows_writes_it(
        "Microsoft-Windows-Windows Defender/Operational",
        "Microsoft-Windows-Windows Defender",
        1119,
        &[
            ("Product Name", "Microsoft Defender Antivirus"),
            ("Product Version", "4.18.2102.4"),
            ("Detection ID", "{00000000-0000-0000-0000-000000000001}"),
            ("Threat Name", "Virus:DOS/EICAR_Test_File"),
            ("Severity Name", "Severe"),
            ("Source Name", "Real-Time Protection"),
            ("Process Name", "C:\\Windows\\explorer.exe"),
            ("Path", "file:_C:\\Users\\u\\AppData\\Local\\Temp\\taxonomy-check.exe"),
            ("Action Name", "Quarantine"),
            ("Error Code", "0x80508023"),
        ],
    );
    assert_eq!(set.evaluate_event(&event).len(), 1);
    let other_channel = as_windows_writes_it(
        "Application",
        "Microsoft-Windows-Windows Defender",
        1119,
        &[("Threat Name", "Virus:DOS/EICAR_Test_File")],
    );
    assert!(set.evaluate_event(&other_channel).is_empty(), "windefend rules only run on the Defender channel");
}

#[test]
fn every_windows_service_channel_reaches_its_rules() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str)] = &[
        ("security", "Security"),
        ("system", "System"),
        ("application", "Application"),
        ("msexchange-management", "MSExchange Management"),
        ("powershell", "Microsoft-Windows-PowerShell/Operational"),
        ("powershell", "PowerShellCore/Operational"),
        ("powershell-classic", "Windows PowerShell"),
        ("taskscheduler", "Microsoft-Windows-TaskScheduler/Operational"),
        ("wmi", "Microsoft-Windows-WMI-Activity/Operational"),
        ("dns-server", "DNS Server"),
        ("dns-server-audit", "Microsoft-Windows-DNS-Server/Audit"),
        ("dns-server-analytic", "Microsoft-Windows-DNS-Server/Analytical"),
        ("driver-framework", "Microsoft-Windows-DriverFrameworks-UserMode/Operational"),
        ("ntlm", "Microsoft-Windows-NTLM/Operational"),
        ("dhcp", "Microsoft-Windows-DHCP-Server/Operational"),
        ("applocker", "Microsoft-Windows-AppLocker/MSI and Script"),
        ("applocker", "Microsoft-Windows-AppLocker/EXE and DLL"),
        ("applocker", "Microsoft-Windows-AppLocker/Packaged app-Deployment"),
        ("applocker", "Microsoft-Windows-AppLocker/Packaged app-Execution"),
        ("printservice-admin", "Microsoft-Windows-PrintService/Admin"),
        ("printservice-operational", "Microsoft-Windows-PrintService/Operational"),
        ("codeintegrity-operational", "Microsoft-Windows-CodeIntegrity/Operational"),
        ("smbclient-security", "Microsoft-Windows-SmbClient/Security"),
        ("firewall-as", "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall"),
        ("bits-client", "Microsoft-Windows-Bits-Client/Operational"),
        ("windefend", "Microsoft-Windows-Windows Defender/Operational"),
        ("terminalservices-localsessionmanager", "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational"),
        ("microsoft-servicebus-client", "Microsoft-ServiceBus-Client"),
        ("ldap_debug", "Microsoft-Windows-LDAP-Client/Debug"),
        ("security-mitigations", "Microsoft-Windows-Security-Mitigations/KernelMode"),
        ("security-mitigations", "Microsoft-Windows-Security-Mitigations/User Mode"),
        ("diagnosis-scripted", "Microsoft-Windows-Diagnosis-Scripted/Operational"),
        ("shell-core", "Microsoft-Windows-Shell-Core/Operational"),
        ("openssh", "OpenSSH/Operational"),
        ("bitlocker", "Microsoft-Windows-BitLocker/BitLocker Management"),
        ("dns-client", "Microsoft-Windows-DNS-Client/Operational"),
        ("appxdeployment-server", "Microsoft-Windows-AppXDeploymentServer/Operational"),
        ("capi2", "Microsoft-Windows-CAPI2/Operational"),
        ("dpapi", "Microsoft-Windows-Crypto-DPAPI/Operational"),
        ("shim-engine", "Microsoft-Windows-Kernel-ShimEngine/Operational"),
    ];
    for (i, (service, channel)) in cases.iter().enumerate() {
        let set = rule(&dir, &format!("svc_{i}"), &format!("service: {service}"), "        Marker: 'taxonomy-check'");
        let event = as_windows_writes_it(channel, "Test-Provider", 1000, &[("Marker", "taxonomy-check")]);
        assert_eq!(set.evaluate_event(&event).len(), 1, "service {service} on channel {channel}");
        let elsewhere =
            as_windows_writes_it("Some-Vendor/Operational", "Test-Provider", 1000, &[("Marker", "taxonomy-check")]);
        assert!(set.evaluate_event(&elsewhere).is_empty(), "service {service} must not run on an unrelated channel");
    }
}

#[test]
fn windows_categories_outside_sysmon() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, u32, &str)] = &[
        ("process_creation", "Security", 4688, "NewProcessName"),
        ("ps_script", "Microsoft-Windows-PowerShell/Operational", 4104, "ScriptBlockText"),
        ("ps_module", "Microsoft-Windows-PowerShell/Operational", 4103, "Payload"),
        ("ps_classic_start", "Windows PowerShell", 400, "HostApplication"),
        ("ps_classic_provider_start", "Windows PowerShell", 600, "HostApplication"),
        ("ps_classic_script", "Windows PowerShell", 800, "HostApplication"),
    ];
    for (category, channel, id, field) in cases {
        let selection = if *field == "NewProcessName" {
            "        Image|endswith: '\\taxonomy-check.exe'".to_string()
        } else {
            format!("        {field}|contains: 'taxonomy-check'")
        };
        let set = rule(&dir, category, &format!("category: {category}"), &selection);
        let event = as_windows_writes_it(channel, "Test-Provider", *id, &[(field, "C:\\Temp\\taxonomy-check.exe")]);
        assert_eq!(set.evaluate_event(&event).len(), 1, "{category} on {channel} {id}");
        let wrong_id =
            as_windows_writes_it(channel, "Test-Provider", id + 1, &[(field, "C:\\Temp\\taxonomy-check.exe")]);
        assert!(set.evaluate_event(&wrong_id).is_empty(), "{category} must not run on {channel} {}", id + 1);
    }
}
