//! The accounts the attacker touched, for people and for scripts: the table's and the HTML page's
//! "Accounts" section, a CSV an administrator can feed to a password-reset script, and the
//! advice that names whom to reset and whose owners to tell.

use std::io::{self, Write};

use crate::model::{ALL_SESSIONS, Account, AccountAction, Host, Report};

fn actions(a: &Account) -> String {
    a.actions.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")
}

/// Lines for the table output (empty when no account was touched).
pub fn table_lines(host: &Host) -> Vec<String> {
    let mut out = Vec::new();
    for a in &host.accounts {
        let name =
            if a.account == ALL_SESSIONS { "(every account with a session)".to_string() } else { a.account.clone() };
        let when = match (&a.first, &a.last) {
            (Some(f), Some(l)) if f != l => format!("{} → {}", short(f), short(l)),
            (Some(f), _) => short(f),
            _ => "(no time)".into(),
        };
        let name = crate::render::printable(&name);
        out.push(format!("{name:<40} {:<44} {when}", actions(a)));
        out.push(format!("{:40} {}", "", crate::render::printable(&a.note)));
    }
    out
}

fn short(t: &str) -> String {
    t.replace('T', " ").chars().take(16).collect()
}

/// Advice naming the accounts: who needs a password reset, whose owners must be told.
pub fn advice(host: &Host) -> Vec<String> {
    let named = |pred: &dyn Fn(AccountAction) -> bool| -> Vec<&str> {
        host.accounts
            .iter()
            .filter(|a| a.account != ALL_SESSIONS && a.actions.iter().any(|x| pred(*x)))
            .map(|a| a.account.as_str())
            .collect()
    };
    let mut steps = Vec::new();
    if host.accounts.iter().any(|a| a.account == ALL_SESSIONS) {
        steps.push("Credentials were dumped on this server: reset the password of every account that had a session on it (administrators, service accounts, the computer account), not only those named.".to_string());
    }
    let reset = named(&|x| x.needs_reset());
    if !reset.is_empty() {
        steps.push(format!("Reset the passwords and revoke the sessions of: {}.", list(&reset)));
    }
    let tell = named(&|x| x.mailbox_exposed());
    if !tell.is_empty() {
        steps.push(format!("Tell the owners of these mailboxes that their mail was exposed: {}.", list(&tell)));
    }
    steps
}

fn list(names: &[&str]) -> String {
    const SHOWN: usize = 12;
    if names.len() <= SHOWN {
        names.join(", ")
    } else {
        format!("{} and {} more (see the Accounts section)", names[..SHOWN].join(", "), names.len() - SHOWN)
    }
}

fn cell(s: &str) -> String {
    crate::render::neutralise(s).into_owned()
}

/// One row per (host, account): `host,account,kind,actions,reset_password,tell_owner,first,last,rules,note`.
pub fn write_csv(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "host",
        "account",
        "kind",
        "actions",
        "reset_password",
        "tell_owner",
        "first",
        "last",
        "rules",
        "note",
    ])?;
    for host in &report.hosts {
        for a in &host.accounts {
            let mut rules: Vec<&str> = a.findings.iter().map(|f| f.rule.as_str()).collect();
            rules.sort();
            rules.dedup();
            let yes = |b: bool| if b { "yes" } else { "no" };
            w.write_record([
                cell(&host.name),
                cell(&a.account),
                a.kind.clone(),
                a.actions.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(";"),
                yes(a.actions.iter().any(|x| x.needs_reset())).to_string(),
                yes(a.actions.iter().any(|x| x.mailbox_exposed())).to_string(),
                a.first.clone().unwrap_or_default(),
                a.last.clone().unwrap_or_default(),
                cell(&rules.join(";")),
                cell(&a.note),
            ])?;
        }
    }
    w.flush()
}
