//! Web shells in use, seen from the request logs alone: the hits of rules with
//! `unless_stock_page` (a successful request to a script page a stock install does not have)
//! become one finding per page, naming every address that used it, how often, from when to
//! when; a page named one or two letters away from one of Exchange's own (a look-alike) is
//! ranked critical.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use taskforce_report::Severity;

use crate::Judged;

/// Distinct addresses kept per page (the count of requests is always exact).
const MAX_ADDRESSES: usize = 100;

/// Folds the request hits per (rule, page) into the earliest one.
pub fn fold(judged: &mut Vec<Judged>) {
    let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, j) in judged.iter().enumerate() {
        if let Some(page) = j.finding.detail.get("page").and_then(Value::as_str) {
            groups.entry((j.finding.rule.clone(), page.to_string())).or_default().push(i);
        }
    }
    let mut drop = vec![false; judged.len()];
    for ((_, page), mut members) in groups {
        members.sort_by_key(|&i| (judged[i].timestamp.is_none(), judged[i].timestamp));
        // The request the correlation linked to a write (written, then requested) tells the
        // story best; else the earliest. The worst severity of the group is kept.
        let first = members
            .iter()
            .copied()
            .find(|&i| judged[i].finding.detail.contains_key("written_by"))
            .unwrap_or(members[0]);
        let worst = members.iter().map(|&i| judged[i].finding.severity).max().unwrap_or(Severity::High);
        let mut addresses: Vec<(String, usize, Option<String>, Option<String>)> = Vec::new();
        for &i in &members {
            let Some(a) = judged[i].finding.client_address().map(str::to_string) else { continue };
            let time = judged[i].finding.time.clone();
            if let Some(entry) = addresses.iter_mut().find(|(x, ..)| *x == a) {
                entry.1 += 1;
                if time.is_some() {
                    entry.3 = time;
                }
            } else if addresses.len() < MAX_ADDRESSES {
                addresses.push((a, 1, time.clone(), time));
            }
        }
        let last_time = members.iter().rev().find_map(|&i| judged[i].finding.time.clone());
        let lookalike = judged[first].finding.detail.get("lookalike_of").and_then(Value::as_str).map(str::to_string);
        let f = &mut judged[first].finding;
        f.severity = f.severity.max(worst);
        f.detail.insert("requests".into(), members.len().into());
        f.detail.insert(
            "addresses".into(),
            Value::Array(
                addresses
                    .iter()
                    .map(|(a, n, first, last)| json!({"address": a, "requests": n, "first": first, "last": last}))
                    .collect(),
            ),
        );
        if let Some(last) = &last_time {
            f.detail.insert("last_request".into(), last.clone().into());
        }
        let who = addresses.iter().map(|(a, ..)| a.as_str()).collect::<Vec<_>>().join(", ");
        let mut title = format!("{} — {page}", f.title);
        if let Some(stock) = &lookalike {
            f.severity = Severity::Critical;
            title.push_str(&format!(" (look-alike of Exchange's own {stock})"));
        }
        if !who.is_empty() {
            title.push_str(&format!(", used by {who}"));
        }
        if members.len() > 1 {
            title.push_str(&format!(", {} requests", members.len()));
        }
        f.title = title;
        for &i in members.iter().filter(|&&i| i != first) {
            drop[i] = true;
        }
    }
    let mut i = 0;
    judged.retain(|_| {
        let keep = !drop[i];
        i += 1;
        keep
    });
}
