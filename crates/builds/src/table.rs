//! The build table (`data/exchange-builds.csv`) and the patch-status rules of detections.md
//! section C.
//!
//! The table is data so that a new SU or a corrected build is a one-line change that the tests
//! check against the reference; only the rules for reading it are code.

use std::sync::OnceLock;

use serde::Serialize;

use crate::{Build, Family, FamilyStatus, Precision, Status};

const BUILTIN: &str = include_str!("../data/exchange-builds.csv");
const BUILTIN_UPDATES: &str = include_str!("../data/exchange-updates.csv");

/// The header the data file must start with (after comments), in this order.
const COLUMNS: [&str; 10] = [
    "product",
    "cu",
    "rtm",
    "scope",
    "proxylogon",
    "proxyshell_apr21",
    "proxyshell_may21",
    "proxynotshell",
    "cves",
    "source_note",
];

/// The four fix columns, in file order: the SU each one stands for, as notes name it.
const SU_NAMES: [&str; 4] = ["March 2021 SU", "April 2021 SU", "May 2021 SU", "November 2022 SU"];

/// The header of the updates file (`data/exchange-updates.csv`).
const UPDATE_COLUMNS: [&str; 6] = ["release", "build", "update", "released", "kb", "source"];

/// Which fix columns decide a family. ProxyShell needs both: its CVEs were fixed in two SUs.
const fn columns_of(family: Family) -> &'static [usize] {
    match family {
        Family::ProxyLogon => &[0],
        Family::ProxyShell => &[1, 2],
        Family::ProxyNotShell => &[3],
    }
}

/// A release of Exchange, as the table names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Product {
    /// e.g. `Exchange Server 2016 CU19`, `Exchange Server SE RTM`.
    pub name: String,
    /// The release's first build.
    pub rtm: Build,
}

/// A malformed build table. The line number is 1-based and counts comments and blank lines, so
/// it points into the file as an editor shows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TableError {
    pub line: usize,
    pub message: String,
}

/// Exchange releases and the build of each that fixes each vulnerability family.
#[derive(Debug, Clone)]
pub struct BuildTable {
    rows: Vec<Row>,
}

/// Which builds a row covers; see the data file's header comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Builds with the RTM's major.minor.build: an SU only raises the 4th part.
    Cu,
    /// Builds of the RTM's major.minor from the RTM's CU on (later CUs contain every fix).
    From,
    /// Builds with the RTM's major (Exchange 2010, whose rollups raise the 3rd part).
    Major,
}

/// One fix column of a row, for a family that applies (`n/a` is `None` in [`Row::cells`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    /// The release itself contains the fix.
    InCu,
    /// No SU was released for this release; only upgrading fixes it.
    NoSu,
    /// The SU build for this release.
    Su { build: Build, unverified: bool },
}

#[derive(Debug, Clone)]
struct Row {
    line: usize,
    product: String,
    cu: String,
    rtm: Build,
    scope: Scope,
    /// `None` = the family does not affect this product.
    cells: [Option<Cell>; 4],
    /// Empty = every CVE of the applicable families.
    cves: Vec<String>,
    /// The SU/HU builds released for this release (from the updates file), ascending.
    updates: Vec<Update>,
}

/// One security or hotfix update of a release, as `data/exchange-updates.csv` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Update {
    pub build: Build,
    /// Microsoft's short name: `Mar24SU`, `Apr25HU`, `Nov24SUv2` (a re-release).
    pub name: String,
    /// `YYYY-MM-DD`, or `YYYY-MM` when the source names only the month.
    pub released: String,
    /// The KB article, when the source gives one.
    pub kb: Option<String>,
}

impl BuildTable {
    /// The table shipped in the binary with its updates, parsed on first use.
    ///
    /// Panics only if an embedded data file is malformed, which the test suite rules out.
    pub fn builtin() -> &'static BuildTable {
        static TABLE: OnceLock<BuildTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            BuildTable::parse(BUILTIN)
                .unwrap_or_else(|e| panic!("data/exchange-builds.csv is malformed: {e}"))
                .with_updates(BUILTIN_UPDATES)
                .unwrap_or_else(|e| panic!("data/exchange-updates.csv is malformed: {e}"))
        })
    }

    /// Adds the updates listed in a file in the format of `data/exchange-updates.csv`. Each must
    /// name a release of the table with `cu` scope and be a later build of that release; within
    /// a release the builds ascend.
    pub fn with_updates(mut self, text: &str) -> Result<BuildTable, TableError> {
        let mut header_seen = false;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.trim();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let error = |message: String| TableError { line, message };
            if !header_seen {
                if !content.split(',').map(str::trim).eq(UPDATE_COLUMNS) {
                    return Err(error(format!("expected the header `{}`", UPDATE_COLUMNS.join(","))));
                }
                header_seen = true;
                continue;
            }
            let (release, update) = parse_update(content).map_err(error)?;
            let row = self
                .rows
                .iter_mut()
                .find(|row| row.name() == release)
                .ok_or_else(|| error(format!("`{release}` is not a release of the build table")))?;
            if row.scope != Scope::Cu || update.build.cu_key() != row.rtm.cu_key() || update.build <= row.rtm {
                return Err(error(format!("{} is not a later build of {release} ({})", update.build, row.rtm)));
            }
            if let Some(last) = row.updates.last()
                && last.build >= update.build
            {
                return Err(error(format!(
                    "{} is not above the previous update of {release}, {}",
                    update.build, last.build
                )));
            }
            row.updates.push(update);
        }
        if !header_seen {
            return Err(TableError { line: text.lines().count().max(1), message: "no header line".to_owned() });
        }
        Ok(self)
    }

    /// Parses a table in the format of `data/exchange-builds.csv`. Rows must not overlap, so
    /// every build belongs to at most one row.
    pub fn parse(text: &str) -> Result<BuildTable, TableError> {
        let mut rows: Vec<Row> = Vec::new();
        let mut header_seen = false;
        let mut last_line = 0;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            last_line = line;
            let content = raw.trim();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let error = |message: String| TableError { line, message };
            if !header_seen {
                if !content.split(',').map(str::trim).eq(COLUMNS) {
                    return Err(error(format!("expected the header `{}`", COLUMNS.join(","))));
                }
                header_seen = true;
                continue;
            }
            let row = parse_row(line, content).map_err(error)?;
            if let Some(other) = rows.iter().find(|other| other.overlaps(&row)) {
                return Err(error(format!("{} overlaps {} on line {}", row.name(), other.name(), other.line)));
            }
            rows.push(row);
        }
        let line = last_line.max(1);
        if !header_seen {
            return Err(TableError { line, message: "no header line".to_owned() });
        }
        if rows.is_empty() {
            return Err(TableError { line, message: "no rows after the header".to_owned() });
        }
        Ok(BuildTable { rows })
    }

    /// The release a build belongs to (by major.minor.build), or `None` when the table has no row
    /// for it ([`BuildTable::patch_status`] still judges such builds).
    pub fn product(&self, b: &Build) -> Option<Product> {
        self.row(b).map(|row| Product { name: row.name(), rtm: row.rtm })
    }

    /// One entry per family that affects the build's product, in the order ProxyLogon,
    /// ProxyShell, ProxyNotShell (Exchange 2010 gets only ProxyLogon).
    ///
    /// A 3-part build is judged as far as the CU allows: a fix contained in the CU, or a CU that
    /// never got an SU, decide without the 4th part; an SU threshold does not, and gives
    /// [`Status::Unknown`].
    pub fn patch_status(&self, b: &Build) -> Vec<FamilyStatus> {
        match self.row(b) {
            Some(row) => Family::ALL.into_iter().filter_map(|family| row.judge(family, b)).collect(),
            None => self.judge_unlisted(b),
        }
    }

    /// The lowest build of the same release that fixes every family affecting it (what to
    /// update to), or `None` when no SU exists for some family and only a newer CU helps.
    pub fn fully_patched_build(&self, b: &Build) -> Option<Build> {
        let row = self.row(b)?;
        let mut highest = None;
        for cell in row.cells.iter().flatten() {
            let fix = match *cell {
                Cell::InCu => row.rtm,
                Cell::NoSu => return None,
                Cell::Su { build, .. } => build,
            };
            highest = highest.max(Some(fix));
        }
        highest
    }

    /// The 4-part builds the table names for the build's CU (the RTM, the fix builds and the
    /// updates of the updates file), ascending. A remote probe that only learnt the CU can try just these to find the SU,
    /// instead of guessing revisions (detections.md D3).
    pub fn known_builds(&self, b: &Build) -> Vec<Build> {
        let Some(row) = self.row(b) else {
            return Vec::new();
        };
        let fixes = row.cells.iter().flatten().filter_map(|cell| match *cell {
            Cell::Su { build, .. } => Some(build),
            Cell::InCu | Cell::NoSu => None,
        });
        let updates = row.updates.iter().map(|update| update.build);
        let mut builds: Vec<Build> =
            std::iter::once(row.rtm).chain(fixes).chain(updates).filter(|known| known.cu_key() == b.cu_key()).collect();
        builds.sort();
        builds.dedup();
        builds
    }

    fn row(&self, b: &Build) -> Option<&Row> {
        if b.is_placeholder() {
            return None;
        }
        self.rows.iter().find(|row| row.covers(b))
    }

    /// A build whose release has no row. Exchange numbers releases in increasing order and every
    /// release contains the fixes of the releases before it, so:
    /// - one older than every listed release of its major.minor never got an SU for these flaws;
    /// - one above a listed release that contains a family's fix in the release itself
    ///   (`in-cu`) contains that fix too;
    /// - for the other families, one between listed CUs is a release that never got an SU, and
    ///   one newer than every listed release is not known here (`unknown`, "newer than the table").
    fn judge_unlisted(&self, b: &Build) -> Vec<FamilyStatus> {
        let unknown = |note: String| FamilyStatus::all_unknown(&note);
        if b.is_placeholder() {
            return unknown(format!("{b} is a placeholder version, not a real build"));
        }
        let line = self.line(b);
        let Some(oldest) = line.iter().min_by_key(|row| row.rtm) else {
            return unknown(format!("{b} is not an Exchange version in the build table"));
        };
        let product = &oldest.product;
        let below = line.iter().filter(|row| row.rtm.cu_key() < b.cu_key()).max_by_key(|row| row.rtm);
        let newer_release_listed = line.iter().any(|row| row.scope == Scope::Cu && row.rtm.cu_key() > b.cu_key());
        let newer_than_table = line.iter().all(|row| row.rtm.cu_key() < b.cu_key());
        Family::ALL
            .into_iter()
            .filter(|&family| oldest.applies(family))
            .map(|family| {
                let (status, note) = match below {
                    None => (
                        Status::Vulnerable,
                        format!(
                            "{b} is older than {}, the oldest {product} release with a security update for these flaws: upgrade to a supported CU",
                            oldest.name()
                        ),
                    ),
                    Some(row) if row.contains_fix(family) && newer_than_table => (
                        Status::Fixed,
                        format!(
                            "{b} is newer than the table (its newest {} release is {}, {}); that release already contains the fix, so every later build does",
                            row.product,
                            row.name(),
                            row.rtm
                        ),
                    ),
                    Some(row) if row.contains_fix(family) => (
                        Status::Fixed,
                        format!(
                            "{b} is not in the build table, but it is later than {} ({}), which already contains the fix",
                            row.name(),
                            row.rtm
                        ),
                    ),
                    Some(_) if newer_release_listed => (
                        Status::Vulnerable,
                        format!(
                            "{b} is not a {product} CU that received a security update for these flaws: upgrade to a supported CU"
                        ),
                    ),
                    Some(row) => (
                        Status::Unknown,
                        format!(
                            "{b} is newer than the table (its newest {} release is {}, {}): its patch status cannot be determined",
                            row.product,
                            row.name(),
                            row.rtm
                        ),
                    ),
                };
                FamilyStatus { family, cves: oldest.cves_of(family), status, fixed_in: None, note }
            })
            .collect()
    }

    /// The rows of the build's major.minor that list CUs (Exchange 2010's `major` row aside).
    fn line(&self, b: &Build) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|row| row.scope != Scope::Major)
            .filter(|row| (row.rtm.major, row.rtm.minor) == (b.major, b.minor))
            .collect()
    }

    /// The product a build belongs to (`Exchange Server SE`, `Exchange Server 2019`): its row's,
    /// else that of the nearest listed release below it (or the oldest, for a build older than
    /// every listed release). `None` for placeholders and versions the table does not know.
    pub fn product_line(&self, b: &Build) -> Option<&str> {
        if let Some(row) = self.row(b) {
            return Some(&row.product);
        }
        if b.is_placeholder() {
            return None;
        }
        let line = self.line(b);
        let below = line.iter().filter(|row| row.rtm.cu_key() < b.cu_key()).max_by_key(|row| row.rtm);
        below.or_else(|| line.iter().min_by_key(|row| row.rtm)).map(|row| row.product.as_str())
    }

    /// The update a 4-part build is, when the updates file lists it (`15.2.1748.24`: Apr25HU).
    pub fn update(&self, b: &Build) -> Option<&Update> {
        self.row(b)?.updates.iter().find(|update| update.build == *b)
    }
}

impl Row {
    fn name(&self) -> String {
        if self.cu.is_empty() { self.product.clone() } else { format!("{} {}", self.product, self.cu) }
    }

    fn covers(&self, b: &Build) -> bool {
        match self.scope {
            Scope::Cu => self.rtm.cu_key() == b.cu_key(),
            Scope::From => (self.rtm.major, self.rtm.minor) == (b.major, b.minor) && b.cu_key() >= self.rtm.cu_key(),
            Scope::Major => self.rtm.major == b.major,
        }
    }

    fn overlaps(&self, other: &Row) -> bool {
        match (self.scope, other.scope) {
            (Scope::Major, _) | (_, Scope::Major) => self.rtm.major == other.rtm.major,
            (Scope::From, Scope::From) => (self.rtm.major, self.rtm.minor) == (other.rtm.major, other.rtm.minor),
            (Scope::From, Scope::Cu) => self.covers(&other.rtm),
            (Scope::Cu, _) => other.covers(&self.rtm),
        }
    }

    /// Whether the release itself contains the family's fix (every column of it `in-cu`).
    fn contains_fix(&self, family: Family) -> bool {
        columns_of(family).iter().all(|&column| self.cells[column] == Some(Cell::InCu))
    }

    fn applies(&self, family: Family) -> bool {
        self.cells[columns_of(family)[0]].is_some()
    }

    fn cves_of(&self, family: Family) -> Vec<String> {
        family
            .cves()
            .iter()
            .filter(|&&cve| self.cves.is_empty() || self.cves.iter().any(|c| c == cve))
            .map(|&cve| cve.to_owned())
            .collect()
    }

    /// The family's verdict: the worst of its columns (ProxyShell is fixed only when both SUs
    /// are in), explained by the last column with that verdict (SUs are cumulative, so the
    /// later one is what to install).
    fn judge(&self, family: Family, b: &Build) -> Option<FamilyStatus> {
        let mut judged = columns_of(family)
            .iter()
            .filter_map(|&column| self.cells[column].map(|cell| self.judge_cell(column, cell, b)));
        let mut decisive = judged.next()?;
        let mut fixed_in = decisive.fix;
        for next in judged {
            fixed_in = fixed_in.zip(next.fix).map(|(a, b)| a.max(b));
            if severity(next.status) >= severity(decisive.status) {
                decisive = next;
            }
        }
        Some(FamilyStatus {
            family,
            cves: self.cves_of(family),
            status: decisive.status,
            fixed_in,
            note: decisive.note,
        })
    }

    fn judge_cell(&self, column: usize, cell: Cell, b: &Build) -> Judged {
        let su = SU_NAMES[column];
        let name = self.name();
        match cell {
            Cell::InCu => {
                Judged { status: Status::Fixed, fix: Some(self.rtm), note: format!("{name} already contains the fix") }
            }
            Cell::NoSu => Judged {
                status: Status::Vulnerable,
                fix: None,
                note: format!("no {su} was released for {name}: upgrade to a supported CU"),
            },
            Cell::Su { build, unverified } => {
                let (status, mut note) = match at_least(b, &build) {
                    Some(true) => (Status::Fixed, format!("{b} includes the {su} ({build})")),
                    Some(false) => {
                        (Status::Vulnerable, format!("{name} without the {su}: install it ({build}) or later"))
                    }
                    None => (
                        Status::Unknown,
                        format!("{b} names only the CU: cannot tell whether the {su} ({build}) is installed"),
                    ),
                };
                if unverified {
                    note.push_str(&format!("; {build} is the commonly quoted fix build, unverified"));
                }
                Judged { status, fix: Some(build), note }
            }
        }
    }
}

struct Judged {
    status: Status,
    fix: Option<Build>,
    note: String,
}

/// Vulnerable outranks unknown outranks fixed: one missing fix is enough.
const fn severity(status: Status) -> u8 {
    match status {
        Status::Fixed => 0,
        Status::Unknown => 1,
        Status::Vulnerable => 2,
    }
}

/// Whether `b` is at or above `fix`; `None` when `b` lacks the revision that would decide it.
fn at_least(b: &Build, fix: &Build) -> Option<bool> {
    if b.cu_key() != fix.cu_key() {
        return Some(b.cu_key() > fix.cu_key());
    }
    match (b.revision, fix.revision.unwrap_or(0)) {
        (Some(revision), needed) => Some(revision >= needed),
        // Every build of the CU has revision >= 0.
        (None, 0) => Some(true),
        (None, _) => None,
    }
}

/// One data line; errors are messages, the caller adds the line number.
fn parse_row(line: usize, content: &str) -> Result<Row, String> {
    let fields: Vec<&str> = content.splitn(COLUMNS.len(), ',').map(str::trim).collect();
    let &[product, cu, rtm, scope, pl, apr, may, nov, cves, _source_note] = fields.as_slice() else {
        return Err(format!("expected {} columns ({}), found {}", COLUMNS.len(), COLUMNS.join(","), fields.len()));
    };
    if product.is_empty() {
        return Err("empty product".to_owned());
    }
    let rtm: Build = rtm.parse().map_err(|e| format!("column rtm: {e}"))?;
    if rtm.precision() != Precision::Full || rtm.is_placeholder() {
        return Err(format!("column rtm: {rtm} is not a full 4-part build"));
    }
    let scope = match scope {
        "cu" => Scope::Cu,
        "from" => Scope::From,
        "major" => Scope::Major,
        other => {
            return Err(format!("column scope: `{other}` is not `cu`, `from` or `major`"));
        }
    };
    let mut cells = [None; 4];
    for (column, text) in [pl, apr, may, nov].into_iter().enumerate() {
        cells[column] = parse_cell(text, &rtm, scope).map_err(|e| format!("column {}: {e}", COLUMNS[4 + column]))?;
    }
    if cells[1].is_some() != cells[2].is_some() {
        return Err("ProxyShell needs both proxyshell_apr21 and proxyshell_may21, or neither (n/a)".to_owned());
    }
    let row = Row {
        line,
        product: product.to_owned(),
        cu: cu.to_owned(),
        rtm,
        scope,
        cells,
        cves: cves.split_whitespace().map(str::to_owned).collect(),
        updates: Vec::new(),
    };
    check_cves(&row)?;
    Ok(row)
}

/// One line of the updates file: the release's name and the update.
fn parse_update(content: &str) -> Result<(&str, Update), String> {
    let fields: Vec<&str> = content.splitn(UPDATE_COLUMNS.len(), ',').map(str::trim).collect();
    let &[release, build, name, released, kb, source] = fields.as_slice() else {
        return Err(format!(
            "expected {} columns ({}), found {}",
            UPDATE_COLUMNS.len(),
            UPDATE_COLUMNS.join(","),
            fields.len()
        ));
    };
    let build: Build = build.parse().map_err(|e| format!("column build: {e}"))?;
    if build.precision() != Precision::Full || build.is_placeholder() {
        return Err(format!("column build: {build} is not a full 4-part build"));
    }
    if !is_update_name(name) {
        return Err(format!("column update: `{name}` is not a name like Mar24SU, Apr25HU or Nov24SUv2"));
    }
    if !is_date_or_month(released) {
        return Err(format!("column released: `{released}` is not YYYY-MM-DD or YYYY-MM"));
    }
    let kb = match kb {
        "" => None,
        kb if kb
            .strip_prefix("KB")
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())) =>
        {
            Some(kb.to_owned())
        }
        other => return Err(format!("column kb: `{other}` is not empty or KB followed by digits")),
    };
    if source.is_empty() {
        return Err("column source: every update names where it comes from".to_owned());
    }
    Ok((release, Update { build, name: name.to_owned(), released: released.to_owned(), kb }))
}

/// `Mar24SU`, `Apr25HU`, `Nov24SUv2`: a month, two year digits, SU or HU, and a re-release suffix.
fn is_update_name(name: &str) -> bool {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let Some((month, rest)) = name.split_at_checked(3) else {
        return false;
    };
    let Some((year, rest)) = rest.split_at_checked(2) else {
        return false;
    };
    let kind = rest.get(..2);
    let suffix = rest.get(2..).unwrap_or("");
    MONTHS.contains(&month)
        && year.bytes().all(|b| b.is_ascii_digit())
        && matches!(kind, Some("SU" | "HU"))
        && (suffix.is_empty()
            || suffix.strip_prefix('v').is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())))
}

/// `YYYY-MM-DD` or `YYYY-MM`, with a month 01-12 and a day 01-31.
fn is_date_or_month(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let number = |part: &str, len: usize, max: u32| {
        part.len() == len
            && part.bytes().all(|b| b.is_ascii_digit())
            && part.parse::<u32>().is_ok_and(|n| (1..=max).contains(&n))
    };
    match parts.as_slice() {
        [year, month] => number(year, 4, 9999) && number(month, 2, 12),
        [year, month, day] => number(year, 4, 9999) && number(month, 2, 12) && number(day, 2, 31),
        _ => false,
    }
}

fn parse_cell(text: &str, rtm: &Build, scope: Scope) -> Result<Option<Cell>, String> {
    match text {
        "in-cu" => return Ok(Some(Cell::InCu)),
        "none" => return Ok(Some(Cell::NoSu)),
        "n/a" => return Ok(None),
        _ => {}
    }
    let (text, unverified) = match text.strip_suffix('?') {
        Some(stripped) => (stripped, true),
        None => (text, false),
    };
    let build: Build = text.parse().map_err(|_| format!("`{text}` is not a build, `in-cu`, `none` or `n/a`"))?;
    if build.precision() != Precision::Full {
        return Err(format!("{build} is not a full 4-part build"));
    }
    let same_release = match scope {
        // An SU raises only the 4th part; anything else is a typo or a different CU.
        Scope::Cu => build.cu_key() == rtm.cu_key(),
        Scope::From => (build.major, build.minor) == (rtm.major, rtm.minor),
        Scope::Major => build.major == rtm.major,
    };
    if !same_release || build <= *rtm {
        return Err(format!("{build} is not a later build of the release {rtm}"));
    }
    Ok(Some(Cell::Su { build, unverified }))
}

/// At least one family must apply. A restricted CVE list must name only known CVEs, at least one of each family that applies and
/// none of a family marked `n/a`.
fn check_cves(row: &Row) -> Result<(), String> {
    if !Family::ALL.iter().any(|&family| row.applies(family)) {
        return Err("no family applies (every fix column is n/a)".to_owned());
    }
    if row.cves.is_empty() {
        return Ok(());
    }
    if let Some(unknown) = row.cves.iter().find(|cve| !Family::ALL.iter().any(|f| f.cves().contains(&cve.as_str()))) {
        return Err(format!("column cves: {unknown} is not a CVE of any family"));
    }
    for family in Family::ALL {
        let listed = !row.cves_of(family).is_empty();
        if row.applies(family) && !listed {
            return Err(format!("column cves: {family} applies but none of its CVEs is listed"));
        }
        if !row.applies(family) && listed {
            return Err(format!("column cves: {family} is n/a but some of its CVEs are listed"));
        }
    }
    Ok(())
}
