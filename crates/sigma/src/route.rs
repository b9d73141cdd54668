//! Which Sigma log source an event belongs to: Sigma's Windows taxonomy (service per channel,
//! category per provider and event id), so a rule runs only on the events it was written for.

use rsigma_parser::LogSource;
use taskforce_events::WinEvent;

/// Channel → Sigma `service`: Sigma's Windows log source taxonomy (the channel names its
/// processing pipelines use), plus the names Windows itself writes where they differ
/// (`…/KernelMode` without a space, the OpenSSH channel with and without its `Microsoft-Windows-` prefix).
const SERVICES: &[(&str, &str)] = &[
    ("Security", "security"),
    ("System", "system"),
    ("Application", "application"),
    ("MSExchange Management", "msexchange-management"),
    ("Microsoft-Windows-Sysmon/Operational", "sysmon"),
    ("Microsoft-Windows-PowerShell/Operational", "powershell"),
    ("PowerShellCore/Operational", "powershell"),
    ("Windows PowerShell", "powershell-classic"),
    ("Microsoft-Windows-TaskScheduler/Operational", "taskscheduler"),
    ("Microsoft-Windows-Windows Defender/Operational", "windefend"),
    ("Microsoft-Windows-WMI-Activity/Operational", "wmi"),
    ("Microsoft-Windows-Bits-Client/Operational", "bits-client"),
    ("Microsoft-Windows-CodeIntegrity/Operational", "codeintegrity-operational"),
    ("Microsoft-Windows-DNS-Client/Operational", "dns-client"),
    ("DNS Server", "dns-server"),
    ("Microsoft-Windows-DNS-Server/Audit", "dns-server-audit"),
    ("Microsoft-Windows-DNS-Server/Analytical", "dns-server-analytic"),
    ("Microsoft-Windows-DHCP-Server/Operational", "dhcp"),
    ("Microsoft-Windows-NTLM/Operational", "ntlm"),
    ("Microsoft-Windows-Windows Firewall With Advanced Security/Firewall", "firewall-as"),
    ("Microsoft-Windows-TerminalServices-LocalSessionManager/Operational", "terminalservices-localsessionmanager"),
    ("Microsoft-Windows-SMBClient/Security", "smbclient-security"),
    ("OpenSSH/Operational", "openssh"),
    ("Microsoft-Windows-OpenSSH/Operational", "openssh"),
    ("Microsoft-Windows-Shell-Core/Operational", "shell-core"),
    ("Microsoft-Windows-AppXDeploymentServer/Operational", "appxdeployment-server"),
    ("Microsoft-Windows-DriverFrameworks-UserMode/Operational", "driver-framework"),
    ("Microsoft-Windows-Security-Mitigations/KernelMode", "security-mitigations"),
    ("Microsoft-Windows-Security-Mitigations/UserMode", "security-mitigations"),
    ("Microsoft-Windows-Security-Mitigations/Kernel Mode", "security-mitigations"),
    ("Microsoft-Windows-Security-Mitigations/User Mode", "security-mitigations"),
    ("Microsoft-Windows-Diagnosis-Scripted/Operational", "diagnosis-scripted"),
    ("Microsoft-Windows-LDAP-Client/Debug", "ldap_debug"),
    ("Microsoft-Windows-Kernel-ShimEngine/Operational", "shim-engine"),
    ("Microsoft-Windows-CAPI2/Operational", "capi2"),
    ("Microsoft-Windows-Crypto-DPAPI/Operational", "dpapi"),
    ("Microsoft-Windows-AppLocker/MSI and Script", "applocker"),
    ("Microsoft-Windows-AppLocker/EXE and DLL", "applocker"),
    ("Microsoft-Windows-AppLocker/Packaged app-Deployment", "applocker"),
    ("Microsoft-Windows-AppLocker/Packaged app-Execution", "applocker"),
    ("Microsoft-Windows-PrintService/Admin", "printservice-admin"),
    ("Microsoft-Windows-PrintService/Operational", "printservice-operational"),
    ("Microsoft-ServiceBus-Client", "microsoft-servicebus-client"),
    ("Microsoft-Windows-BitLocker/BitLocker Management", "bitlocker"),
];

/// Sysmon event id → Sigma category.
const SYSMON: &[(u32, &str)] = &[
    (1, "process_creation"),
    (2, "file_change"),
    (3, "network_connection"),
    (4, "sysmon_status"),
    (5, "process_termination"),
    (6, "driver_load"),
    (7, "image_load"),
    (8, "create_remote_thread"),
    (9, "raw_access_thread"),
    (10, "process_access"),
    (11, "file_event"),
    (13, "registry_set"),
    (14, "registry_rename"),
    (15, "create_stream_hash"),
    (16, "sysmon_status"),
    (17, "pipe_created"),
    (18, "pipe_created"),
    (19, "wmi_event"),
    (20, "wmi_event"),
    (21, "wmi_event"),
    (22, "dns_query"),
    (23, "file_delete"),
    (24, "clipboard_capture"),
    (25, "process_tampering"),
    (26, "file_delete_detected"),
    (27, "file_block_executable"),
    (28, "file_block_shredding"),
    (29, "file_executable_detected"),
    (255, "sysmon_error"),
];

/// The Sigma log sources to evaluate an event under: one per category its provider and event id
/// map to (each also names the service, so service-only rules match too), or just the service.
/// Sysmon 12–14 are both their own category and `registry_event`; callers de-duplicate hits.
pub fn logsources(event: &WinEvent) -> Vec<LogSource> {
    let service =
        SERVICES.iter().find(|(channel, _)| channel.eq_ignore_ascii_case(&event.channel)).map(|(_, s)| s.to_string());
    let mut categories: Vec<&str> = Vec::new();
    match service.as_deref() {
        Some("sysmon") => {
            if let Some((_, c)) = SYSMON.iter().find(|(id, _)| *id == event.event_id) {
                categories.push(c);
            }
            if event.event_id == 12 {
                // One event id for creating and deleting keys; Sigma splits them by `EventType`.
                categories.extend(registry_object_categories(event.get("EventType")));
            }
            if event.event_id == 26 {
                // Sigma's `file_delete` covers both Sysmon delete events (23 archived, 26 logged only).
                categories.push("file_delete");
            }
            if matches!(event.event_id, 12..=14) {
                categories.push("registry_event");
            }
        }
        Some("security") if event.event_id == 4688 => categories.push("process_creation"),
        Some("security") if event.event_id == 4663 => categories.push("file_access"),
        Some("powershell") if event.event_id == 4104 => categories.push("ps_script"),
        Some("powershell") if event.event_id == 4103 => categories.push("ps_module"),
        Some("powershell-classic") if event.event_id == 400 => categories.push("ps_classic_start"),
        Some("powershell-classic") if event.event_id == 800 => categories.push("ps_classic_script"),
        Some("powershell-classic") if event.event_id == 600 => categories.push("ps_classic_provider_start"),
        _ => {}
    }
    let base =
        LogSource { product: Some("windows".into()), service: service.clone(), category: None, ..Default::default() };
    if categories.is_empty() {
        return vec![base];
    }
    categories.into_iter().map(|c| LogSource { category: Some(c.to_string()), ..base.clone() }).collect()
}

/// Sysmon 12 ("Registry object added or deleted") by its `EventType`: `CreateKey` is
/// `registry_add`, `DeleteKey`/`DeleteValue` is `registry_delete`. An event without a known type
/// (a trimmed export) is offered to both, so no rule is silently skipped.
fn registry_object_categories(event_type: Option<&str>) -> &'static [&'static str] {
    match event_type.map(str::trim) {
        Some(t) if t.eq_ignore_ascii_case("CreateKey") => &["registry_add"],
        Some(t) if t.eq_ignore_ascii_case("DeleteKey") || t.eq_ignore_ascii_case("DeleteValue") => &["registry_delete"],
        _ => &["registry_add", "registry_delete"],
    }
}

/// The log source of an IIS W3C record.
pub fn webserver() -> LogSource {
    LogSource { category: Some("webserver".into()), product: Some("windows".into()), ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_and_categories() {
        let ev = |channel: &str, id: u32| WinEvent { channel: channel.into(), event_id: id, ..Default::default() };
        let ls = logsources(&ev("Microsoft-Windows-Sysmon/Operational", 1));
        assert_eq!(ls.len(), 1);
        assert_eq!(ls[0].category.as_deref(), Some("process_creation"));
        assert_eq!(ls[0].service.as_deref(), Some("sysmon"));
        let ls = logsources(&ev("MSExchange Management", 1));
        assert_eq!(ls[0].service.as_deref(), Some("msexchange-management"));
        assert_eq!(logsources(&ev("Security", 4688))[0].category.as_deref(), Some("process_creation"));
        assert_eq!(logsources(&ev("Microsoft-Windows-Sysmon/Operational", 13)).len(), 2);
        assert_eq!(logsources(&ev("Some/Other", 1))[0].service, None);
    }
}
