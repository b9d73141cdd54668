//! The MSExchange Management event log of a sample server: the cmdlets an admin runs every day,
//! and in the compromised scenario the attacker's `Set-OabVirtualDirectory` with a script in the
//! ExternalUrl (written through ECP at the time of the ECP log's row).

use taskforce_evtx_writer::{Event, EventData, write_evtx};

use crate::Scenario;
use crate::ctx::Ctx;
use crate::plan::{Payload, Plan};
use crate::rng::Rng;
use crate::time::{DAY, HOUR, MIN};

fn cmdlet(ctx: &Ctx, ts: i64, name: &str, params: String, user: &str) -> Event {
    Event {
        provider: "MSExchange CmdletLogs".into(),
        event_id: 1,
        level: 4,
        channel: "MSExchange Management".into(),
        computer: ctx.fqdn.clone(),
        time: std::time::UNIX_EPOCH + std::time::Duration::from_millis(ts.max(0) as u64),
        record_id: 0,
        data: EventData::Unnamed(vec![
            name.into(),
            params,
            format!("contoso.local/Users/{user}"),
            "S-1-5-21-1004336348-1177238915-682003330-500".into(),
            "S-1-5-21-1004336348-1177238915-682003330-500".into(),
            "Remote-ManagementShell-Unknown".into(),
            "5668 w3wp#MSExchangePowerShellAppPool".into(),
            String::new(),
            "1".into(),
            "00:00:00.2031250".into(),
        ]),
    }
}

/// The `.evtx` bytes for `scenario`, or `None` when the scenario has no event logs.
pub(crate) fn management_log(scenario: Scenario, ctx: &Ctx, plan: &Plan, days: u32, seed: u64) -> Option<Vec<u8>> {
    if !plan.exchange_logs {
        return None;
    }
    let mut rng = Rng::derive(seed, "msexchange-management");
    let mut events: Vec<(i64, Event)> = Vec::new();
    for &start in &plan.windows {
        for day in 0..i64::from(days.max(1)) {
            for _ in 0..rng.range(6, 14) {
                let ts = start + day * DAY + 8 * HOUR + rng.range(0, 9 * 3600) as i64 * 1000;
                let user = format!("user{:03}", rng.range(1, 400));
                let (name, params) = match rng.range(0, 4) {
                    0 => ("Get-Mailbox", format!("-Identity \"{user}\"")),
                    1 => ("Set-Mailbox", format!("-Identity \"{user}\" -ProhibitSendQuota \"49 GB\"")),
                    2 => ("Get-MailboxStatistics", format!("-Identity \"{user}\"")),
                    _ => ("Set-CASMailbox", format!("-Identity \"{user}\" -OWAEnabled \"True\"")),
                };
                events.push((ts, cmdlet(ctx, ts, name, params, "Administrator")));
            }
        }
    }
    let first = plan.windows[0];
    match scenario {
        Scenario::Compromised => {
            // The same change the ECP log records, at the same time.
            let ts = plan
                .plants
                .iter()
                .find(|p| matches!(&p.payload, Payload::Ecp { data, .. } if data.contains("ExternalUrl='http://f/")))
                .map(|p| p.ts)
                .unwrap_or(first + DAY + 4 * HOUR);
            let params = "-Identity \"EXCH01\\OAB (Default Web Site)\" -ExternalUrl \"http://f/<script language=\"JScript\" runat=\"server\">function Page_Load(){}</script>\"".to_string();
            events.push((ts, cmdlet(ctx, ts, "Set-OabVirtualDirectory", params, "SYSTEM")));
        }
        Scenario::Clean => {
            // Known false-positive traps: a legitimate URL change and a PST export to a file share.
            let ts = first + 10 * HOUR + 31 * MIN;
            let params =
                "-Identity \"OAB (Default Web Site)\" -ExternalUrl \"https://mail.contoso.com/OAB\"".to_string();
            events.push((ts, cmdlet(ctx, ts, "Set-OabVirtualDirectory", params, "admin.jones")));
            let ts = first + 14 * HOUR + 5 * MIN;
            let params = "-Mailbox \"leaver@contoso.com\" -FilePath \"\\\\fileserver\\pst$\\leaver.pst\"".to_string();
            events.push((ts, cmdlet(ctx, ts, "New-MailboxExportRequest", params, "admin.jones")));
        }
        Scenario::Attempted | Scenario::Inconclusive => {}
    }
    events.sort_by_key(|(ts, _)| *ts);
    let events: Vec<Event> = events.into_iter().map(|(_, e)| e).collect();
    Some(write_evtx(&events))
}
