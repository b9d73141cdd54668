//! What is due, and to whom: every organisation with a host that needs action, its recipient
//! (manual contact → the organisation's imported contacts → the network's → the ASN's, or a
//! configured intermediary instead), and whether the interval or an escalation allows a message
//! now. Reads only; `plan` changes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use anyhow::Result;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use taskforce_service::Db;
use taskforce_service::state::TechState;

use crate::config::{Intermediary, NotifyConfig};

/// How a recipient was chosen, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientKind {
    /// Configured for the organisation's country or ASN (a national CERT, an upstream provider).
    Intermediary,
    /// Entered by an analyst for this organisation.
    Manual,
    /// Imported for this organisation.
    Contact,
    /// The contact of the organisation that holds a wider network around the host.
    Network,
    /// The contact of the organisation that holds the host's ASN.
    Asn,
}

impl RecipientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientKind::Intermediary => "intermediary",
            RecipientKind::Manual => "manual",
            RecipientKind::Contact => "contact",
            RecipientKind::Network => "network",
            RecipientKind::Asn => "asn",
        }
    }

    pub fn parse(s: &str) -> Option<RecipientKind> {
        [Self::Intermediary, Self::Manual, Self::Contact, Self::Network, Self::Asn]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Recipient {
    pub email: String,
    pub name: Option<String>,
    pub kind: RecipientKind,
    /// Whose address it is when it is not the organisation's own (`AS64496 (Example ISP)`, a CERT).
    pub via: Option<String>,
    pub lang: String,
}

/// A finding on a host, as the message shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FindingLine {
    pub kind: String,
    pub first_seen: String,
    pub last_seen: String,
    pub count: i64,
}

/// Which update fixes a family on this host's build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FixLine {
    pub family: String,
    pub status: String,
    pub fixed_in: Option<String>,
    /// The family's CVEs that apply to this product (for the X-ARF reports).
    #[serde(default)]
    pub cves: Vec<String>,
}

/// One host that needs action.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostLine {
    pub host_id: i64,
    pub ip: String,
    pub asn: Option<i64>,
    pub hostname: Option<String>,
    pub servername: Option<String>,
    pub version: Option<String>,
    pub state: String,
    pub regressed: bool,
    /// When the host entered its current state.
    pub since: String,
    pub first_seen: String,
    pub last_seen: String,
    pub findings: Vec<FindingLine>,
    pub fixes: Vec<FixLine>,
}

/// Why an organisation is (or is not) due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Never told this recipient.
    First,
    /// Told before, and the interval has passed.
    Reminder,
    /// The situation got worse since the last message: sent at once.
    Escalation,
    /// Told inside the interval and nothing got worse.
    WithinInterval,
    /// A message for it is already in the outbox.
    Queued,
    /// No address to write to: listed, never dropped.
    NoContact,
}

impl Decision {
    pub fn is_due(self) -> bool {
        matches!(self, Decision::First | Decision::Reminder | Decision::Escalation)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::First => "first",
            Decision::Reminder => "reminder",
            Decision::Escalation => "escalation",
            Decision::WithinInterval => "within_interval",
            Decision::Queued => "queued",
            Decision::NoContact => "no_contact",
        }
    }
}

/// One organisation in the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanItem {
    pub org_id: i64,
    pub org_name: String,
    pub cc: Option<String>,
    pub comm_state: String,
    pub worst_state: String,
    pub decision: Decision,
    /// Human-readable reason (what got worse, when the interval ends).
    pub why: String,
    pub recipient: Option<Recipient>,
    /// The next addresses to try after a permanent refusal.
    pub fallbacks: Vec<Recipient>,
    pub last_notified_at: Option<String>,
    pub hosts: Vec<HostLine>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub generated_at: String,
    pub campaign: String,
    pub items: Vec<PlanItem>,
}

impl Plan {
    pub fn due(&self) -> impl Iterator<Item = &PlanItem> {
        self.items.iter().filter(|i| i.decision.is_due())
    }
}

/// The situation told in a message: compared with the present to detect an escalation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ToldHost {
    pub host_id: i64,
    pub ip: String,
    pub state: String,
    pub regressed: bool,
}

#[derive(Debug, Clone)]
struct ContactRow {
    email: String,
    name: Option<String>,
    manual: bool,
    lang: Option<String>,
}

struct OrgRow {
    name: String,
    cc: Option<String>,
    comm_state: String,
}

/// Organisations planned together: a handful of queries per batch, none per organisation, and
/// only one batch's hosts, contacts and history in memory at a time.
pub const PLAN_BATCH: usize = 500;

/// What a whole plan keeps in memory: which organisations (with a usable contact) hold which
/// networks and ASNs, for the network and ASN fallbacks. A few dozen bytes per network or ASN;
/// nothing per host, message or ticket.
struct Index {
    /// (prefix length, network) → organisations holding it.
    networks: HashMap<(u8, IpNet), Vec<i64>>,
    prefix_lengths: Vec<u8>,
    asns: HashMap<i64, Vec<i64>>,
}

/// One batch of organisations and every organisation their fallbacks name.
struct Context {
    orgs: HashMap<i64, OrgRow>,
    contacts: HashMap<i64, Vec<ContactRow>>,
}

/// States that need a message; `patched` only as a reminder when asked.
fn needs_action_sql(remind_patched: bool) -> &'static str {
    if remind_patched {
        "(h.tech_state IN ('compromised', 'vulnerable', 'patched') OR h.regressed <> 0)"
    } else {
        "(h.tech_state IN ('compromised', 'vulnerable') OR h.regressed <> 0)"
    }
}

/// The language of German-speaking countries, else English.
pub fn lang_for_country(cc: Option<&str>) -> &'static str {
    match cc.map(|c| c.to_ascii_uppercase()).as_deref() {
        Some("DE" | "AT" | "CH" | "LI") => "de",
        _ => "en",
    }
}

fn fixes_for(version: Option<&str>) -> Vec<FixLine> {
    let Some(build) = version.and_then(|v| v.trim().parse::<taskforce_builds::Build>().ok()) else {
        return Vec::new();
    };
    taskforce_builds::BuildTable::builtin()
        .patch_status(&build)
        .into_iter()
        .filter(|f| f.status != taskforce_builds::Status::Fixed)
        .map(|f| FixLine {
            family: f.family.to_string(),
            status: f.status.to_string(),
            fixed_in: f.fixed_in.map(|b| b.to_string()),
            cves: f.cves,
        })
        .collect()
}

/// `1,2,3` for `IN (…)`: integers only, so safe to write into the statement.
fn id_list(ids: impl IntoIterator<Item = i64>) -> String {
    ids.into_iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

/// The batch's hosts that need action, grouped by organisation (worst first inside each).
async fn load_hosts(
    db: &Db,
    cond: &str,
    list: &str,
    fix_cache: &mut HashMap<String, Vec<FixLine>>,
) -> Result<BTreeMap<i64, Vec<HostLine>>> {
    let sql = format!(
        "SELECT h.id, h.org_id, h.ip, h.asn, h.hostname, h.servername, h.version, h.tech_state, h.regressed, h.state_at, h.first_seen, h.last_seen \
         FROM host h WHERE h.org_id IN ({list}) AND {cond} ORDER BY h.org_id, h.tech_rank DESC, h.ip"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await?;
    let fsql = format!(
        "SELECT f.host_id, f.kind, f.first_seen, f.last_seen, f.count FROM finding f JOIN host h ON h.id = f.host_id \
         WHERE h.org_id IN ({list}) AND {cond} ORDER BY f.host_id, f.kind"
    );
    let mut findings: HashMap<i64, Vec<FindingLine>> = HashMap::new();
    for r in sqlx::query(sqlx::AssertSqlSafe(fsql)).fetch_all(&db.pool).await? {
        findings.entry(r.try_get(0)?).or_default().push(FindingLine {
            kind: r.try_get(1)?,
            first_seen: r.try_get(2)?,
            last_seen: r.try_get(3)?,
            count: r.try_get(4)?,
        });
    }
    let mut out: BTreeMap<i64, Vec<HostLine>> = BTreeMap::new();
    for r in rows {
        let id: i64 = r.try_get(0)?;
        let version: Option<String> = r.try_get(6)?;
        let fixes = match &version {
            Some(v) => fix_cache.entry(v.clone()).or_insert_with(|| fixes_for(Some(v))).clone(),
            None => Vec::new(),
        };
        out.entry(r.try_get(1)?).or_default().push(HostLine {
            host_id: id,
            ip: r.try_get(2)?,
            asn: r.try_get(3)?,
            hostname: r.try_get(4)?,
            servername: r.try_get(5)?,
            version,
            state: r.try_get(7)?,
            regressed: r.try_get::<i64, _>(8)? != 0,
            since: r.try_get(9)?,
            first_seen: r.try_get(10)?,
            last_seen: r.try_get(11)?,
            findings: findings.remove(&id).unwrap_or_default(),
            fixes,
        });
    }
    Ok(out)
}

impl Index {
    async fn load(db: &Db) -> Result<Index> {
        // Only organisations with an address that does not bounce can stand in for another.
        let mut reachable: HashSet<i64> = HashSet::new();
        for r in sqlx::query(
            "SELECT DISTINCT c.org_id FROM contact c WHERE LOWER(c.email) NOT IN (SELECT email FROM notify_bounce)",
        )
        .fetch_all(&db.pool)
        .await?
        {
            reachable.insert(r.try_get(0)?);
        }
        let mut networks: HashMap<(u8, IpNet), Vec<i64>> = HashMap::new();
        for r in sqlx::query("SELECT org_id, cidr FROM org_network ORDER BY id").fetch_all(&db.pool).await? {
            let org: i64 = r.try_get(0)?;
            if !reachable.contains(&org) {
                continue;
            }
            if let Ok(net) = r.try_get::<String, _>(1)?.parse::<IpNet>() {
                networks.entry((net.prefix_len(), net.trunc())).or_default().push(org);
            }
        }
        let mut prefix_lengths: Vec<u8> = networks.keys().map(|k| k.0).collect::<HashSet<_>>().into_iter().collect();
        prefix_lengths.sort_unstable_by(|a, b| b.cmp(a)); // most specific first
        let mut asns: HashMap<i64, Vec<i64>> = HashMap::new();
        for r in sqlx::query("SELECT org_id, asn FROM org_asn ORDER BY id").fetch_all(&db.pool).await? {
            let org: i64 = r.try_get(0)?;
            if reachable.contains(&org) {
                asns.entry(r.try_get(1)?).or_default().push(org);
            }
        }
        networks.shrink_to_fit();
        asns.shrink_to_fit();
        Ok(Index { networks, prefix_lengths, asns })
    }

    /// The wider networks around a host held by other organisations, most specific first.
    fn networks_around<'a>(&'a self, ip: IpAddr) -> impl Iterator<Item = (IpNet, &'a [i64])> + 'a {
        self.prefix_lengths.iter().filter_map(move |&len| {
            let net = IpNet::new(ip, len).ok()?.trunc();
            self.networks.get(&(len, net)).map(|holders| (net, holders.as_slice()))
        })
    }

    fn asn_holders(&self, asn: i64) -> &[i64] {
        self.asns.get(&asn).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every organisation the fallbacks of these hosts may name.
    fn holders(&self, hosts: &[HostLine], out: &mut HashSet<i64>) {
        for h in hosts {
            if let Ok(ip) = h.ip.parse::<IpAddr>() {
                for (_, holders) in self.networks_around(ip) {
                    out.extend(holders);
                }
            }
            if let Some(asn) = h.asn {
                out.extend(self.asn_holders(asn));
            }
        }
    }
}

impl Context {
    /// The organisations and their contacts (bouncing addresses left out), for these ids.
    async fn load(db: &Db, ids: &HashSet<i64>) -> Result<Context> {
        let mut orgs = HashMap::new();
        let mut contacts: HashMap<i64, Vec<ContactRow>> = HashMap::new();
        if ids.is_empty() {
            return Ok(Context { orgs, contacts });
        }
        let list = id_list(ids.iter().copied());
        let sql = format!("SELECT id, name, cc, comm_state FROM organisation WHERE id IN ({list})");
        for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await? {
            orgs.insert(r.try_get(0)?, OrgRow { name: r.try_get(1)?, cc: r.try_get(2)?, comm_state: r.try_get(3)? });
        }
        // Manual first, then the abuse role, then the order they came in.
        let sql = format!(
            "SELECT c.org_id, c.email, c.name, c.managed, c.lang FROM contact c \
             WHERE c.org_id IN ({list}) AND LOWER(c.email) NOT IN (SELECT email FROM notify_bounce) \
             ORDER BY c.org_id, CASE c.managed WHEN 'manual' THEN 0 ELSE 1 END, CASE c.role WHEN 'abuse' THEN 0 ELSE 1 END, c.id"
        );
        for r in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await? {
            contacts.entry(r.try_get(0)?).or_default().push(ContactRow {
                email: r.try_get(1)?,
                name: r.try_get(2)?,
                manual: r.try_get::<String, _>(3)? == "manual",
                lang: r.try_get(4)?,
            });
        }
        Ok(Context { orgs, contacts })
    }

    fn org_lang(&self, org: i64) -> &'static str {
        lang_for_country(self.orgs.get(&org).and_then(|o| o.cc.as_deref()))
    }

    fn recipient_of(&self, holder: i64, c: &ContactRow, kind: RecipientKind, via: Option<String>) -> Recipient {
        Recipient {
            email: c.email.to_ascii_lowercase(),
            name: c.name.clone(),
            kind,
            via,
            lang: c.lang.clone().unwrap_or_else(|| self.org_lang(holder).to_string()),
        }
    }

    /// Every address to try for an organisation, in order, without duplicates or bouncing ones.
    fn resolve(
        &self,
        index: &Index,
        org: i64,
        hosts: &[HostLine],
        intermediaries: &[Intermediary],
        bounced: &HashSet<String>,
    ) -> Vec<Recipient> {
        let mut out: Vec<Recipient> = Vec::new();
        let push = |r: Recipient, out: &mut Vec<Recipient>| {
            if !bounced.contains(&r.email) && !out.iter().any(|o| o.email == r.email) {
                out.push(r);
            }
        };
        let cc = self.orgs.get(&org).and_then(|o| o.cc.clone());
        for i in intermediaries {
            let by_cc = i.country.as_deref().is_some_and(|c| cc.as_deref().is_some_and(|o| o.eq_ignore_ascii_case(c)));
            let by_asn = i.asn.is_some_and(|a| hosts.iter().any(|h| h.asn == Some(a)));
            if by_cc || by_asn {
                push(
                    Recipient {
                        email: i.email.to_ascii_lowercase(),
                        name: Some(i.name.clone()),
                        kind: RecipientKind::Intermediary,
                        via: Some(i.name.clone()),
                        lang: i.lang.clone().unwrap_or_else(|| self.org_lang(org).to_string()),
                    },
                    &mut out,
                );
            }
        }
        let own = self.contacts.get(&org).map(Vec::as_slice).unwrap_or(&[]);
        for c in own.iter().filter(|c| c.manual) {
            push(self.recipient_of(org, c, RecipientKind::Manual, None), &mut out);
        }
        for c in own.iter().filter(|c| !c.manual) {
            push(self.recipient_of(org, c, RecipientKind::Contact, None), &mut out);
        }
        // The network's: a wider network around one of the hosts, held by another organisation.
        for h in hosts {
            let Ok(ip) = h.ip.parse::<IpAddr>() else { continue };
            for (net, holders) in index.networks_around(ip) {
                for &holder in holders {
                    if holder == org {
                        continue;
                    }
                    let via = format!("{net} ({})", self.orgs.get(&holder).map(|o| o.name.as_str()).unwrap_or("?"));
                    for c in self.contacts.get(&holder).map(Vec::as_slice).unwrap_or(&[]) {
                        push(self.recipient_of(holder, c, RecipientKind::Network, Some(via.clone())), &mut out);
                    }
                }
            }
        }
        // The ASN's.
        for h in hosts {
            let Some(asn) = h.asn else { continue };
            for &holder in index.asn_holders(asn) {
                if holder == org {
                    continue;
                }
                let via = format!("AS{asn} ({})", self.orgs.get(&holder).map(|o| o.name.as_str()).unwrap_or("?"));
                for c in self.contacts.get(&holder).map(Vec::as_slice).unwrap_or(&[]) {
                    push(self.recipient_of(holder, c, RecipientKind::Asn, Some(via.clone())), &mut out);
                }
            }
        }
        out
    }
}

/// The last message sent about an organisation.
struct LastSent {
    /// recipient → when.
    by_recipient: HashMap<String, String>,
    latest_at: String,
    told: Vec<ToldHost>,
}

/// What was sent to the batch's organisations in this campaign, and which of them have a message
/// waiting in the outbox.
async fn load_history(db: &Db, campaign: &str, list: &str) -> Result<(HashMap<i64, LastSent>, HashSet<i64>)> {
    let mut last: HashMap<i64, LastSent> = HashMap::new();
    let sql = format!(
        "SELECT o.org_id, o.recipient, o.sent_at, t.hosts_json FROM notify_outbox o JOIN notify_ticket t ON t.id = o.ticket_id \
         WHERE o.org_id IN ({list}) AND o.status = 'sent' AND t.campaign = $1 ORDER BY o.sent_at, o.id"
    );
    for r in sqlx::query(sqlx::AssertSqlSafe(sql)).bind(campaign.to_string()).fetch_all(&db.pool).await? {
        let org: i64 = r.try_get(0)?;
        let at: String = r.try_get(2)?;
        let told: Vec<ToldHost> = serde_json::from_str(&r.try_get::<String, _>(3)?).unwrap_or_default();
        let e = last.entry(org).or_insert_with(|| LastSent {
            by_recipient: HashMap::new(),
            latest_at: String::new(),
            told: Vec::new(),
        });
        e.by_recipient.insert(r.try_get(1)?, at.clone());
        e.latest_at = at;
        e.told = told;
    }
    let mut queued = HashSet::new();
    let sql = format!(
        "SELECT DISTINCT o.org_id FROM notify_outbox o JOIN notify_ticket t ON t.id = o.ticket_id \
         WHERE o.org_id IN ({list}) AND o.status IN ('planned', 'sending', 'deferred') AND t.campaign = $1"
    );
    for r in sqlx::query(sqlx::AssertSqlSafe(sql)).bind(campaign.to_string()).fetch_all(&db.pool).await? {
        queued.insert(r.try_get(0)?);
    }
    Ok((last, queued))
}

/// What got worse since `told`: a host now compromised that was not, or a regression not told.
pub fn escalation(told: &[ToldHost], now: &[HostLine]) -> Option<String> {
    let rank = |s: &str| TechState::parse(s).map(TechState::rank).unwrap_or(-1);
    for h in now {
        let before = told.iter().find(|t| t.host_id == h.host_id);
        if h.state == "compromised" && before.is_none_or(|b| b.state != "compromised") {
            return Some(format!("{} is now compromised", h.ip));
        }
        if h.regressed && before.is_none_or(|b| !b.regressed || rank(&b.state) < rank(&h.state)) {
            return Some(format!("{} regressed to {}", h.ip, h.state));
        }
    }
    None
}

fn plus_seconds(t: &str, secs: i64) -> String {
    match t.parse::<jiff::Timestamp>() {
        Ok(ts) => taskforce_service::time::format(ts + jiff::SignedDuration::from_secs(secs)),
        Err(_) => t.to_string(),
    }
}

/// Bounced addresses (lower-case).
pub async fn bounced(db: &Db) -> Result<HashSet<String>> {
    Ok(sqlx::query("SELECT email FROM notify_bounce")
        .fetch_all(&db.pool)
        .await?
        .iter()
        .filter_map(|r| r.try_get::<String, _>(0).ok())
        .collect())
}

/// The plan, a batch of organisations at a time, in organisation order: what `notify plan`
/// prints and `notify send` renders as it goes, so neither holds the whole plan.
pub struct Planner<'a> {
    db: &'a Db,
    cfg: &'a NotifyConfig,
    now: String,
    index: Index,
    bounced: HashSet<String>,
    /// Versions seen so far → the fixes they need (a few dozen builds in practice).
    fix_cache: HashMap<String, Vec<FixLine>>,
    /// Only this organisation (a ticket moving to its next contact).
    only_org: Option<i64>,
    /// The last organisation planned (keyset: the next batch starts after it).
    after: i64,
    batch_size: usize,
    done: bool,
}

impl<'a> Planner<'a> {
    pub async fn new(db: &'a Db, cfg: &'a NotifyConfig, now: &str) -> Result<Planner<'a>> {
        Ok(Planner {
            db,
            cfg,
            now: now.to_string(),
            index: Index::load(db).await?,
            bounced: bounced(db).await?,
            fix_cache: HashMap::new(),
            only_org: None,
            after: i64::MIN,
            batch_size: PLAN_BATCH,
            done: false,
        })
    }

    /// Batches of `n` organisations instead of [`PLAN_BATCH`] (the tests check that the batch
    /// boundaries change nothing).
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    pub fn generated_at(&self) -> &str {
        &self.now
    }

    /// The next organisations that need action (up to [`PLAN_BATCH`]), or `None` at the end.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<PlanItem>>> {
        if self.done {
            return Ok(None);
        }
        let cond = needs_action_sql(self.cfg.remind_patched);
        let ids: Vec<i64> = match self.only_org {
            Some(org) => {
                self.done = true;
                vec![org]
            }
            None => {
                let sql = format!(
                    "SELECT DISTINCT h.org_id FROM host h WHERE h.org_id > $1 AND {cond} ORDER BY h.org_id LIMIT {}",
                    self.batch_size
                );
                let ids = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(self.after)
                    .fetch_all(&self.db.pool)
                    .await?
                    .iter()
                    .map(|r| r.try_get(0))
                    .collect::<Result<Vec<i64>, _>>()?;
                match ids.last() {
                    Some(&last) => self.after = last,
                    None => {
                        self.done = true;
                        return Ok(None);
                    }
                }
                ids
            }
        };
        let list = id_list(ids.iter().copied());
        let hosts = load_hosts(self.db, cond, &list, &mut self.fix_cache).await?;
        let mut wanted: HashSet<i64> = ids.iter().copied().collect();
        for h in hosts.values() {
            self.index.holders(h, &mut wanted);
        }
        let ctx = Context::load(self.db, &wanted).await?;
        let (history, queued) = load_history(self.db, &self.cfg.campaign, &list).await?;
        let mut items = Vec::with_capacity(hosts.len());
        for (org, hosts) in hosts {
            let Some(o) = ctx.orgs.get(&org) else { continue };
            let mut recipients = ctx.resolve(&self.index, org, &hosts, &self.cfg.intermediaries, &self.bounced);
            let recipient = if recipients.is_empty() { None } else { Some(recipients.remove(0)) };
            let last = history.get(&org);
            let (decision, why) = decide(self.cfg, &self.now, queued.contains(&org), recipient.as_ref(), last, &hosts);
            let worst = hosts
                .iter()
                .map(|h| h.state.as_str())
                .max_by_key(|s| TechState::parse(s).map(TechState::rank).unwrap_or(-1));
            items.push(PlanItem {
                org_id: org,
                org_name: o.name.clone(),
                cc: o.cc.clone(),
                comm_state: o.comm_state.clone(),
                worst_state: worst.unwrap_or("unknown").to_string(),
                decision,
                why,
                recipient,
                fallbacks: recipients,
                last_notified_at: last.map(|l| l.latest_at.clone()),
                hosts,
            });
        }
        Ok(Some(items))
    }
}

/// Whether an organisation is due, and why.
fn decide(
    cfg: &NotifyConfig,
    now: &str,
    queued: bool,
    recipient: Option<&Recipient>,
    last: Option<&LastSent>,
    hosts: &[HostLine],
) -> (Decision, String) {
    if queued {
        return (Decision::Queued, "a message is already in the outbox".to_string());
    }
    let Some(r) = recipient else {
        return (Decision::NoContact, "no contact: no address on file (or every address bounced)".to_string());
    };
    let Some(l) = last else { return (Decision::First, "not told yet".to_string()) };
    if let Some(worse) = escalation(&l.told, hosts) {
        return (Decision::Escalation, worse);
    }
    let since = l.by_recipient.get(&r.email).unwrap_or(&l.latest_at);
    let next = plus_seconds(since, cfg.interval_secs);
    if next.as_str() <= now {
        (Decision::Reminder, format!("last told {since}"))
    } else {
        (Decision::WithinInterval, format!("last told {since}; next reminder after {next}"))
    }
}

/// The whole plan in memory (the API's answer, tests); `notify plan` and `notify send` go
/// through [`Planner`] a batch at a time instead.
pub async fn plan(db: &Db, cfg: &NotifyConfig, now: &str) -> Result<Plan> {
    let mut planner = Planner::new(db, cfg, now).await?;
    let mut items = Vec::new();
    while let Some(batch) = planner.next_batch().await? {
        items.extend(batch);
    }
    Ok(Plan { generated_at: now.to_string(), campaign: cfg.campaign.clone(), items })
}

/// The plan for one organisation (empty when it needs no action).
pub async fn plan_for(db: &Db, cfg: &NotifyConfig, now: &str, only_org: Option<i64>) -> Result<Plan> {
    let Some(org) = only_org else { return plan(db, cfg, now).await };
    let mut planner = Planner::new(db, cfg, now).await?;
    planner.only_org = Some(org);
    let items = planner.next_batch().await?.unwrap_or_default();
    Ok(Plan { generated_at: now.to_string(), campaign: cfg.campaign.clone(), items })
}

/// The situation a message tells.
pub fn told(hosts: &[HostLine]) -> Vec<ToldHost> {
    hosts
        .iter()
        .map(|h| ToldHost { host_id: h.host_id, ip: h.ip.clone(), state: h.state.clone(), regressed: h.regressed })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(id: i64, state: &str, regressed: bool) -> HostLine {
        HostLine {
            host_id: id,
            ip: format!("192.0.2.{id}"),
            asn: None,
            hostname: None,
            servername: None,
            version: None,
            state: state.into(),
            regressed,
            since: String::new(),
            first_seen: String::new(),
            last_seen: String::new(),
            findings: vec![],
            fixes: vec![],
        }
    }

    #[test]
    fn escalation_is_a_new_compromise_or_a_new_regression() {
        let told = told(&[host(1, "vulnerable", false)]);
        assert_eq!(escalation(&told, &[host(1, "vulnerable", false)]), None);
        assert!(escalation(&told, &[host(1, "compromised", false)]).unwrap().contains("compromised"));
        assert!(escalation(&told, &[host(1, "vulnerable", true)]).unwrap().contains("regressed"));
        assert!(escalation(&told, &[host(1, "vulnerable", false), host(2, "compromised", false)]).is_some());
        // A new vulnerable host is news for the next reminder, not an escalation.
        assert_eq!(escalation(&told, &[host(1, "vulnerable", false), host(2, "vulnerable", false)]), None);
    }

    #[test]
    fn language_by_country() {
        assert_eq!(lang_for_country(Some("de")), "de");
        assert_eq!(lang_for_country(Some("US")), "en");
        assert_eq!(lang_for_country(None), "en");
    }
}
