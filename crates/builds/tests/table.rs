//! The build table against detections.md section C.
//!
//! The expected values below are written by hand from table C.1 and its notes, not read from
//! `data/exchange-builds.csv`, so a transcription error in the data file fails a test.

use taskforce_builds::{Build, BuildTable, Family, FamilyStatus, Precision, Product, Status};

fn b(text: &str) -> Build {
    text.parse().unwrap_or_else(|e| panic!("test build {text:?}: {e}"))
}

fn table() -> &'static BuildTable {
    BuildTable::builtin()
}

/// (family, status) per entry, in report order.
fn statuses(build: &str) -> Vec<(Family, Status)> {
    table().patch_status(&b(build)).iter().map(|s| (s.family, s.status)).collect()
}

fn status_of(build: &str, family: Family) -> Status {
    let all = table().patch_status(&b(build));
    all.iter().find(|s| s.family == family).unwrap_or_else(|| panic!("{build}: no {family} entry in {all:?}")).status
}

fn one_revision_less(build: &str) -> String {
    let mut fix = b(build);
    fix.revision = Some(fix.revision.expect("4-part") - 1);
    fix.to_string()
}

fn cves(family: Family) -> Vec<String> {
    match family {
        Family::ProxyLogon => vec!["CVE-2021-26855", "CVE-2021-26857", "CVE-2021-26858", "CVE-2021-27065"],
        Family::ProxyShell => vec!["CVE-2021-34473", "CVE-2021-34523", "CVE-2021-31207"],
        Family::ProxyNotShell => vec!["CVE-2022-41040", "CVE-2022-41082"],
    }
    .into_iter()
    .map(String::from)
    .collect()
}

use Family::{ProxyLogon as PL, ProxyNotShell as PNS, ProxyShell as PS};
use Status::{Fixed, Unknown, Vulnerable};

// ---------------------------------------------------------------------------------------------
// Table C.1, one test per row.

/// A fix column of table C.1.
#[derive(Debug, Clone, Copy)]
enum Fix {
    /// "(in CU)"
    InCu,
    /// "—": no SU for this CU.
    NoSu,
    /// The SU build.
    Su(&'static str),
}

struct Expect {
    name: &'static str,
    rtm: &'static str,
    proxylogon: Fix,
    apr21: Fix,
    may21: Fix,
    nov22: Fix,
    /// `fully_patched_build`, by hand.
    full: Option<&'static str>,
}

impl Expect {
    fn fixes(&self, family: Family) -> Vec<Fix> {
        match family {
            PL => vec![self.proxylogon],
            PS => vec![self.apr21, self.may21],
            PNS => vec![self.nov22],
        }
    }

    /// The doc's rule applied to one build of this CU: a family is fixed only if every one of
    /// its columns is.
    fn status_at(&self, family: Family, at: &Build) -> Status {
        let per_column = self.fixes(family).into_iter().map(|fix| match fix {
            Fix::InCu => Fixed,
            Fix::NoSu => Vulnerable,
            Fix::Su(su) => match at.revision {
                None => Unknown,
                Some(r) if r >= b(su).revision.unwrap() => Fixed,
                Some(_) => Vulnerable,
            },
        });
        per_column.fold(Fixed, |worst, s| match (worst, s) {
            (Vulnerable, _) | (_, Vulnerable) => Vulnerable,
            (Unknown, _) | (_, Unknown) => Unknown,
            _ => Fixed,
        })
    }

    /// The lowest build of the CU that fixes the family: the SU (the later one for ProxyShell),
    /// the RTM when the CU contains the fix, none when some column has no SU.
    fn fixed_in(&self, family: Family) -> Option<Build> {
        self.fixes(family)
            .into_iter()
            .map(|fix| match fix {
                Fix::InCu => Some(b(self.rtm)),
                Fix::NoSu => None,
                Fix::Su(su) => Some(b(su)),
            })
            .collect::<Option<Vec<_>>>()
            .map(|v| v.into_iter().max().unwrap())
    }

    fn su_builds(&self) -> Vec<&'static str> {
        [self.proxylogon, self.apr21, self.may21, self.nov22]
            .into_iter()
            .filter_map(|fix| match fix {
                Fix::Su(su) => Some(su),
                _ => None,
            })
            .collect()
    }

    fn check_statuses(&self, at: &Build) {
        let got = table().patch_status(at);
        let expected: Vec<(Family, Status)> = Family::ALL.into_iter().map(|f| (f, self.status_at(f, at))).collect();
        let got_pairs: Vec<(Family, Status)> = got.iter().map(|s| (s.family, s.status)).collect();
        assert_eq!(got_pairs, expected, "{} at {at}: {got:#?}", self.name);
        for entry in &got {
            assert_eq!(entry.cves, cves(entry.family), "{} {}", self.name, entry.family);
            assert_eq!(entry.fixed_in, self.fixed_in(entry.family), "{} {} fixed_in", self.name, entry.family);
            assert!(!entry.note.is_empty(), "{} at {at}: empty note", self.name);
        }
    }

    fn check(&self) {
        let rtm = b(self.rtm);
        let three_part = Build { revision: None, ..rtm };

        // Product name, from the RTM, a 3-part build and every SU build of the CU.
        let product = Product { name: self.name.to_owned(), rtm };
        assert_eq!(table().product(&rtm), Some(product.clone()));
        assert_eq!(table().product(&three_part), Some(product.clone()));
        for su in self.su_builds() {
            assert_eq!(table().product(&b(su)), Some(product.clone()), "{su}");
        }

        // The RTM build, each SU build and each SU build minus one revision, and the 3-part build.
        self.check_statuses(&rtm);
        self.check_statuses(&three_part);
        for su in self.su_builds() {
            self.check_statuses(&b(su));
            self.check_statuses(&b(&one_revision_less(su)));
        }

        // Each family: its fixed-in build is fixed, one revision less is vulnerable.
        for family in Family::ALL {
            match self.fixed_in(family) {
                Some(fix) if fix == rtm => {
                    assert_eq!(status_of(self.rtm, family), Fixed, "{} {family}", self.name);
                }
                Some(fix) => {
                    let fix = fix.to_string();
                    assert_eq!(status_of(&fix, family), Fixed, "{} {family} at {fix}", self.name);
                    let before = one_revision_less(&fix);
                    assert_eq!(status_of(&before, family), Vulnerable, "{} {family} at {before}", self.name);
                }
                None => {
                    // No SU for some column: vulnerable even at a far later revision.
                    let late = Build { revision: Some(9999), ..rtm };
                    assert_eq!(status_of(&late.to_string(), family), Vulnerable, "{} {family}", self.name);
                }
            }
        }

        // The 3-part build: "(in CU)" and "—" decide, an SU threshold does not.
        for family in Family::ALL {
            let expected = if self.fixes(family).iter().any(|fix| matches!(fix, Fix::NoSu)) {
                Vulnerable
            } else if self.fixes(family).iter().all(|fix| matches!(fix, Fix::InCu)) {
                Fixed
            } else {
                Unknown
            };
            assert_eq!(status_of(&three_part.to_string(), family), expected, "{} 3-part {family}", self.name);
        }

        // fully_patched_build, from any build of the CU.
        let full = self.full.map(b);
        for at in [rtm, three_part] {
            assert_eq!(table().fully_patched_build(&at), full, "{} from {at}", self.name);
        }
        if let Some(full) = full {
            let full_text = full.to_string();
            assert!(statuses(&full_text).iter().all(|&(_, s)| s == Fixed), "{} at {full_text}", self.name);
            // A release that contains every fix has no build of it below the fix.
            if full != rtm {
                let before = one_revision_less(&full_text);
                assert!(statuses(&before).iter().any(|&(_, s)| s == Vulnerable), "{} at {before}", self.name);
            }
        }

        // The probe's candidate builds for this CU: the RTM, every SU build of the fix columns
        // and every update the updates file lists for it.
        let mut known = vec![rtm];
        known.extend(self.su_builds().into_iter().map(b));
        known.extend(updates_of(self.name).iter().map(|&(build, ..)| b(build)));
        known.sort();
        known.dedup();
        assert_eq!(table().known_builds(&three_part), known, "{}", self.name);
    }
}

macro_rules! c1_row {
    ($test:ident: $name:literal, $rtm:literal,
     $pl:expr, $apr:expr, $may:expr, $nov:expr, full: $full:expr) => {
        #[test]
        fn $test() {
            Expect { name: $name, rtm: $rtm, proxylogon: $pl, apr21: $apr, may21: $may, nov22: $nov, full: $full }
                .check();
        }
    };
}

use Fix::{InCu, NoSu, Su};

c1_row!(e2013_cu21: "Exchange Server 2013 CU21", "15.0.1395.4", Su("15.0.1395.12"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2013_cu22: "Exchange Server 2013 CU22", "15.0.1473.3", Su("15.0.1473.6"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2013_cu23: "Exchange Server 2013 CU23", "15.0.1497.2", Su("15.0.1497.12"), Su("15.0.1497.15"), Su("15.0.1497.18"), Su("15.0.1497.44"), full: Some("15.0.1497.44"));
c1_row!(e2016_cu8: "Exchange Server 2016 CU8", "15.1.1415.2", Su("15.1.1415.8"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2016_cu9: "Exchange Server 2016 CU9", "15.1.1466.3", Su("15.1.1466.13"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2016_cu10: "Exchange Server 2016 CU10", "15.1.1531.3", Su("15.1.1531.12"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2016_cu11: "Exchange Server 2016 CU11", "15.1.1591.10", Su("15.1.1591.18"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2016_cu12: "Exchange Server 2016 CU12", "15.1.1713.5", Su("15.1.1713.10"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2016_cu13: "Exchange Server 2016 CU13", "15.1.1779.2", Su("15.1.1779.8"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2016_cu14: "Exchange Server 2016 CU14", "15.1.1847.3", Su("15.1.1847.12"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2016_cu15: "Exchange Server 2016 CU15", "15.1.1913.5", Su("15.1.1913.12"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2016_cu16: "Exchange Server 2016 CU16", "15.1.1979.3", Su("15.1.1979.8"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2016_cu17: "Exchange Server 2016 CU17", "15.1.2044.4", Su("15.1.2044.13"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2016_cu18: "Exchange Server 2016 CU18", "15.1.2106.2", Su("15.1.2106.13"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2016_cu19: "Exchange Server 2016 CU19", "15.1.2176.2", Su("15.1.2176.9"), Su("15.1.2176.12"), Su("15.1.2176.14"), NoSu, full: None);
c1_row!(e2016_cu20: "Exchange Server 2016 CU20", "15.1.2242.4", InCu, Su("15.1.2242.8"), Su("15.1.2242.10"), NoSu, full: None);
c1_row!(e2016_cu21: "Exchange Server 2016 CU21", "15.1.2308.8", InCu, InCu, InCu, NoSu, full: None);
c1_row!(e2016_cu22: "Exchange Server 2016 CU22", "15.1.2375.7", InCu, InCu, InCu, Su("15.1.2375.37"), full: Some("15.1.2375.37"));
c1_row!(e2016_cu23: "Exchange Server 2016 CU23", "15.1.2507.6", InCu, InCu, InCu, Su("15.1.2507.16"), full: Some("15.1.2507.16"));
c1_row!(e2019_cu1: "Exchange Server 2019 CU1", "15.2.330.5", Su("15.2.330.11"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2019_cu2: "Exchange Server 2019 CU2", "15.2.397.3", Su("15.2.397.11"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2019_cu3: "Exchange Server 2019 CU3", "15.2.464.5", Su("15.2.464.15"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2019_cu4: "Exchange Server 2019 CU4", "15.2.529.5", Su("15.2.529.13"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2019_cu5: "Exchange Server 2019 CU5", "15.2.595.3", Su("15.2.595.8"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2019_cu6: "Exchange Server 2019 CU6", "15.2.659.4", Su("15.2.659.12"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2019_cu7: "Exchange Server 2019 CU7", "15.2.721.2", Su("15.2.721.13"), NoSu, NoSu, NoSu, full: None);
c1_row!(e2019_cu8: "Exchange Server 2019 CU8", "15.2.792.3", Su("15.2.792.10"), Su("15.2.792.13"), Su("15.2.792.15"), NoSu, full: None);
c1_row!(e2019_cu9: "Exchange Server 2019 CU9", "15.2.858.5", InCu, Su("15.2.858.10"), Su("15.2.858.12"), NoSu, full: None);
c1_row!(e2019_cu10: "Exchange Server 2019 CU10", "15.2.922.7", InCu, InCu, InCu, NoSu, full: None);
c1_row!(e2019_cu11: "Exchange Server 2019 CU11", "15.2.986.5", InCu, InCu, InCu, Su("15.2.986.36"), full: Some("15.2.986.36"));
c1_row!(e2019_cu12: "Exchange Server 2019 CU12", "15.2.1118.7", InCu, InCu, InCu, Su("15.2.1118.20"), full: Some("15.2.1118.20"));

// ---------------------------------------------------------------------------------------------
// After C.1: Exchange Server 2019 CU13 to Subscription Edition, from Microsoft's release posts
// (the KB and date of each, as microsoft/Get-ExchangeBuildNumber lists them) and CSS-Exchange's
// Get-ExchangeBuildVersionInformation.ps1. Each contains every fix of the three families.

c1_row!(e2019_cu13: "Exchange Server 2019 CU13", "15.2.1258.12", InCu, InCu, InCu, InCu, full: Some("15.2.1258.12"));
c1_row!(e2019_cu14: "Exchange Server 2019 CU14", "15.2.1544.4", InCu, InCu, InCu, InCu, full: Some("15.2.1544.4"));
c1_row!(e2019_cu15: "Exchange Server 2019 CU15", "15.2.1748.10", InCu, InCu, InCu, InCu, full: Some("15.2.1748.10"));
c1_row!(se_rtm: "Exchange Server SE RTM", "15.2.2562.17", InCu, InCu, InCu, InCu, full: Some("15.2.2562.17"));

/// The SUs and HUs of those releases, by hand from the same sources: (build, name, released, KB).
/// The June-September 2026 updates are only in CSS-Exchange, which gives no KB or day.
fn updates_of(release: &str) -> &'static [(&'static str, &'static str, &'static str, Option<&'static str>)] {
    match release {
        "Exchange Server 2019 CU13" => &[
            ("15.2.1258.16", "Jun23SU", "2023-06-13", Some("KB5026261")),
            ("15.2.1258.23", "Aug23SU", "2023-08-08", Some("KB5029388")),
            ("15.2.1258.25", "Aug23SUv2", "2023-08-15", Some("KB5030524")),
            ("15.2.1258.27", "Oct23SU", "2023-10-10", Some("KB5030877")),
            ("15.2.1258.28", "Nov23SU", "2023-11-14", Some("KB5032146")),
            ("15.2.1258.32", "Mar24SU", "2024-03-12", Some("KB5036386")),
            ("15.2.1258.34", "Apr24HU", "2024-04-23", Some("KB5037224")),
            ("15.2.1258.38", "Nov24SU", "2024-11-12", Some("KB5044062")),
            ("15.2.1258.39", "Nov24SUv2", "2024-11-27", Some("KB5049233")),
        ],
        "Exchange Server 2019 CU14" => &[
            ("15.2.1544.9", "Mar24SU", "2024-03-12", Some("KB5036386")),
            ("15.2.1544.11", "Apr24HU", "2024-04-23", Some("KB5037224")),
            ("15.2.1544.13", "Nov24SU", "2024-11-12", Some("KB5044062")),
            ("15.2.1544.14", "Nov24SUv2", "2024-11-27", Some("KB5049233")),
            ("15.2.1544.25", "Apr25HU", "2025-04-18", Some("KB5050674")),
            ("15.2.1544.27", "May25HU", "2025-05-29", Some("KB5057653")),
            ("15.2.1544.33", "Aug25SU", "2025-08-12", Some("KB5063222")),
            ("15.2.1544.34", "Sep25HU", "2025-09-08", Some("KB5066371")),
            ("15.2.1544.36", "Oct25SU", "2025-10-14", Some("KB5066368")),
            ("15.2.1544.37", "Dec25SU", "2025-12-09", Some("KB5071874")),
            ("15.2.1544.39", "Feb26SU", "2026-02-10", Some("KB5074994")),
            ("15.2.1544.41", "Jun26SU", "2026-06", None),
            ("15.2.1544.43", "Jul26SU", "2026-07", None),
            ("15.2.1544.44", "Aug26SU", "2026-08", None),
            ("15.2.1544.46", "Sep26SU", "2026-09", None),
            ("15.2.1544.48", "Sep26SUv2", "2026-09", None),
        ],
        "Exchange Server 2019 CU15" => &[
            ("15.2.1748.24", "Apr25HU", "2025-04-18", Some("KB5050674")),
            ("15.2.1748.26", "May25HU", "2025-05-29", Some("KB5057653")),
            ("15.2.1748.36", "Aug25SU", "2025-08-12", Some("KB5063221")),
            ("15.2.1748.37", "Sep25HU", "2025-09-08", Some("KB5066372")),
            ("15.2.1748.39", "Oct25SU", "2025-10-14", Some("KB5066367")),
            ("15.2.1748.42", "Dec25SU", "2025-12-09", Some("KB5071875")),
            ("15.2.1748.43", "Feb26SU", "2026-02-10", Some("KB5074993")),
            ("15.2.1748.46", "Jun26SU", "2026-06", None),
            ("15.2.1748.48", "Jul26SU", "2026-07", None),
            ("15.2.1748.49", "Aug26SU", "2026-08", None),
            ("15.2.1748.51", "Sep26SU", "2026-09", None),
            ("15.2.1748.53", "Sep26SUv2", "2026-09", None),
        ],
        "Exchange Server SE RTM" => &[
            ("15.2.2562.20", "Aug25SU", "2025-08-12", Some("KB5063224")),
            ("15.2.2562.27", "Sep25HU", "2025-09-08", Some("KB5066373")),
            ("15.2.2562.29", "Oct25SU", "2025-10-14", Some("KB5066366")),
            ("15.2.2562.35", "Dec25SU", "2025-12-09", Some("KB5071876")),
            ("15.2.2562.37", "Feb26SU", "2026-02-10", Some("KB5074992")),
            ("15.2.2562.41", "May26HU", "2026-05-07", Some("KB5081755")),
            ("15.2.2562.43", "Jun26SU", "2026-06", None),
            ("15.2.2562.45", "Jul26SU", "2026-07", None),
            ("15.2.2562.46", "Aug26SU", "2026-08", None),
            ("15.2.2562.49", "Sep26SU", "2026-09", None),
            ("15.2.2562.53", "Sep26SUv2", "2026-09", None),
        ],
        _ => &[],
    }
}

/// Every update build resolves to its release, is named as Microsoft names it, and is fixed for
/// every family with the release's RTM as the fixing build.
#[test]
fn every_update_resolves_to_its_release_and_is_fixed() {
    let mut seen = 0;
    for (release, rtm) in [
        ("Exchange Server 2019 CU13", "15.2.1258.12"),
        ("Exchange Server 2019 CU14", "15.2.1544.4"),
        ("Exchange Server 2019 CU15", "15.2.1748.10"),
        ("Exchange Server SE RTM", "15.2.2562.17"),
    ] {
        for &(build, name, released, kb) in updates_of(release) {
            let at = b(build);
            assert_eq!(table().product(&at), Some(Product { name: release.to_owned(), rtm: b(rtm) }), "{build}");
            let update = table().update(&at).unwrap_or_else(|| panic!("{build}: no update"));
            assert_eq!((update.build, update.name.as_str(), update.released.as_str()), (at, name, released));
            assert_eq!(update.kb.as_deref(), kb, "{build}");
            let patch = table().patch_status(&at);
            assert_eq!(patch.len(), 3, "{build}");
            for entry in &patch {
                assert_eq!(entry.status, Fixed, "{build} {}", entry.family);
                assert_eq!(entry.fixed_in, Some(b(rtm)), "{build} {}", entry.family);
                assert_eq!(entry.note, format!("{release} already contains the fix"));
            }
            // A revision between two updates is the same release, just not a listed update.
            let between = one_revision_less(build);
            assert_eq!(table().product(&b(&between)).map(|p| p.name), Some(release.to_owned()));
            seen += 1;
        }
    }
    assert_eq!(seen, 48);
    assert_eq!(table().update(&b("15.2.1748.25")), None, "not an update");
    assert_eq!(table().update(&b("15.2.1748")), None, "3-part");
    assert_eq!(table().update(&b("15.1.2176.9")), None, "an SU of the fix columns, not of the updates file");
}

/// Subscription Edition is a product of its own on the 15.2 line: builds from 15.2.2562 on.
#[test]
fn subscription_edition_is_its_own_product() {
    let se = b("15.2.2562.53");
    assert_eq!(table().product(&se).map(|p| p.name), Some("Exchange Server SE RTM".to_owned()));
    assert_eq!(table().product_line(&se), Some("Exchange Server SE"));
    assert_eq!(table().product_line(&b("15.2.1748.53")), Some("Exchange Server 2019"));
    assert_eq!(table().product_line(&b("15.2.3000.1")), Some("Exchange Server SE"), "newer than the table");
    assert_eq!(table().product_line(&b("15.2.221.12")), Some("Exchange Server 2019"), "older than the table");
    assert_eq!(table().product_line(&b("15.1.2507.6")), Some("Exchange Server 2016"));
    assert_eq!(table().product_line(&b("14.3.513.0")), Some("Exchange Server 2010"));
    assert_eq!(table().product_line(&b("15.3.100.1")), None);
    assert_eq!(table().product_line(&b("15.2.0.0")), None, "placeholder");
}

/// A build above the newest release of its line is "newer than the table": a fix that release
/// already contains is in every later build, anything else cannot be decided.
#[test]
fn builds_newer_than_the_table_say_so() {
    for newer in ["15.2.2600.1", "15.2.2600", "15.2.9999.1"] {
        assert_eq!(table().product(&b(newer)), None, "{newer}");
        assert_eq!(table().fully_patched_build(&b(newer)), None, "{newer}");
        assert!(table().known_builds(&b(newer)).is_empty(), "{newer}");
        let patch = table().patch_status(&b(newer));
        assert_eq!(
            patch.iter().map(|s| (s.family, s.status)).collect::<Vec<_>>(),
            [(PL, Fixed), (PS, Fixed), (PNS, Fixed)]
        );
        for entry in &patch {
            assert_eq!(entry.cves, cves(entry.family));
            assert_eq!(entry.fixed_in, None, "{newer}: its release is not known");
            assert!(entry.note.contains("newer than the table"), "{}", entry.note);
            assert!(entry.note.contains("Exchange Server SE RTM, 15.2.2562.17"), "{}", entry.note);
        }
    }
    // Exchange 2016 ended with CU23, which needs the November 2022 SU for ProxyNotShell.
    let patch = table().patch_status(&b("15.1.2600.1"));
    assert_eq!(
        patch.iter().map(|s| (s.family, s.status)).collect::<Vec<_>>(),
        [(PL, Fixed), (PS, Fixed), (PNS, Unknown)]
    );
    assert!(patch[2].note.contains("newer than the table"), "{}", patch[2].note);
    assert!(patch[2].note.contains("cannot be determined"), "{}", patch[2].note);
}

/// A build between two listed releases contains what the release below it contains; a fix that
/// needed an SU there was never released for it.
#[test]
fn builds_between_listed_releases() {
    let patch = table().patch_status(&b("15.2.1200.1")); // between 2019 CU12 and CU13
    assert_eq!(
        patch.iter().map(|s| (s.family, s.status)).collect::<Vec<_>>(),
        [(PL, Fixed), (PS, Fixed), (PNS, Vulnerable)]
    );
    assert!(patch[0].note.contains("later than Exchange Server 2019 CU12 (15.2.1118.7)"), "{}", patch[0].note);
    assert!(patch[2].note.contains("upgrade to a supported CU"), "{}", patch[2].note);
    // Between CU15 and Subscription Edition: every fix is in CU15 already.
    assert!(statuses("15.2.2000.5").iter().all(|&(_, s)| s == Fixed));
    assert_eq!(table().product(&b("15.2.2000.5")), None);
}

// ---------------------------------------------------------------------------------------------
// The notes below table C.1.

/// The nmap script http-vuln-cve2021-26855.nse: "Exchange 2013 Versions < 15.00.1497.012,
/// Exchange 2016 CU18 < 15.01.2106.013, Exchange 2016 CU19 < 15.01.2176.009, Exchange 2019 CU7 <
/// 15.02.0721.013, Exchange 2019 CU8 < 15.02.0792.010".
#[test]
fn nmap_script_proxylogon_thresholds() {
    for (below, at) in [
        ("15.00.1497.011", "15.00.1497.012"),
        ("15.01.2106.012", "15.01.2106.013"),
        ("15.01.2176.008", "15.01.2176.009"),
        ("15.02.0721.012", "15.02.0721.013"),
        ("15.02.0792.009", "15.02.0792.010"),
    ] {
        assert_eq!(status_of(below, PL), Vulnerable, "{below}");
        assert_eq!(status_of(at, PL), Fixed, "{at}");
        let fixed_in = table().patch_status(&b(below))[0].fixed_in;
        assert_eq!(fixed_in, Some(b(at)), "{below}");
    }
}

/// EOMTv2 `Test-ExchangeMitigationRequired`: 2013 < 15.00.1497.044, 2016 CU22 < 15.01.2375.037,
/// CU23 < 15.01.2507.016, 2019 CU11 < 15.02.0986.036, CU12 < 15.02.1118.020.
#[test]
fn eomtv2_proxynotshell_thresholds() {
    for (below, at) in [
        ("15.00.1497.043", "15.00.1497.044"),
        ("15.01.2375.036", "15.01.2375.037"),
        ("15.01.2507.015", "15.01.2507.016"),
        ("15.02.0986.035", "15.02.0986.036"),
        ("15.02.1118.019", "15.02.1118.020"),
    ] {
        assert_eq!(status_of(below, PNS), Vulnerable, "{below}");
        assert_eq!(status_of(at, PNS), Fixed, "{at}");
        assert_eq!(table().fully_patched_build(&b(below)), Some(b(at)), "{below}");
    }
}

/// ProxyShell counts as fixed only when the May 2021 SU is in: 34473/34523 came in April,
/// 31207 in May.
#[test]
fn proxyshell_needs_the_may_su_too() {
    // 2016 CU19: April SU .12, May SU .14.
    assert_eq!(status_of("15.1.2176.12", PS), Vulnerable);
    assert_eq!(status_of("15.1.2176.13", PS), Vulnerable);
    assert_eq!(status_of("15.1.2176.14", PS), Fixed);
    let entry = &table().patch_status(&b("15.1.2176.12"))[1];
    assert_eq!(entry.fixed_in, Some(b("15.1.2176.14")));
    assert!(entry.note.contains("May 2021 SU"), "{}", entry.note);
}

/// "Interim" builds (the March 2021 SU for an out-of-support CU) fix ProxyLogon only.
#[test]
fn interim_su_fixes_proxylogon_only() {
    for interim in ["15.0.1395.12", "15.1.2044.13", "15.2.659.12"] {
        assert_eq!(statuses(interim), vec![(PL, Fixed), (PS, Vulnerable), (PNS, Vulnerable)], "{interim}");
    }
}

/// "— (CU21 last SU Mar22SU 15.1.2308.27)", "— (last SU Mar22SU 15.2.922.27)": the last SU of
/// these CUs still leaves ProxyNotShell open.
#[test]
fn last_su_of_2016_cu21_and_2019_cu10_leaves_proxynotshell_open() {
    for last in ["15.1.2308.27", "15.2.922.27"] {
        assert_eq!(statuses(last), vec![(PL, Fixed), (PS, Fixed), (PNS, Vulnerable)], "{last}");
        let note = &table().patch_status(&b(last))[2].note;
        assert!(note.contains("no November 2022 SU"), "{note}");
        assert!(note.contains("upgrade to a supported CU"), "{note}");
        assert_eq!(table().fully_patched_build(&b(last)), None);
    }
}

/// 2016 CU20 / 2019 CU9 (March 2021 CUs) contain the March fixes (EOMT's `$FutureCUs`).
#[test]
fn march_2021_cus_contain_proxylogon_fix() {
    for rtm in ["15.1.2242.4", "15.2.858.5", "15.1.2242", "15.2.858"] {
        let entry = &table().patch_status(&b(rtm))[0];
        assert_eq!((entry.family, entry.status), (PL, Fixed), "{rtm}");
        assert!(entry.note.contains("already contains the fix"), "{}", entry.note);
    }
    assert_eq!(table().patch_status(&b("15.1.2242"))[0].fixed_in, Some(b("15.1.2242.4")));
}

/// Exchange 2013 SP1 (15.0.847.x): ProxyLogon fixed in the commonly quoted 15.0.847.64.
#[test]
fn e2013_sp1_proxylogon_fix_is_marked_unverified() {
    let product = table().product(&b("15.0.847.32")).unwrap();
    assert_eq!(product.name, "Exchange Server 2013 SP1");
    assert_eq!(statuses("15.0.847.32"), vec![(PL, Vulnerable), (PS, Vulnerable), (PNS, Vulnerable)]);
    assert_eq!(status_of("15.0.847.63", PL), Vulnerable);
    assert_eq!(status_of("15.0.847.64", PL), Fixed);
    assert_eq!(status_of("15.0.847", PL), Unknown);
    let entry = &table().patch_status(&b("15.0.847.64"))[0];
    assert_eq!(entry.fixed_in, Some(b("15.0.847.64")));
    assert!(entry.note.contains("unverified"), "{}", entry.note);
    assert_eq!(table().fully_patched_build(&b("15.0.847.64")), None);
}

/// Exchange 2010: only CVE-2021-26857 applies; the fix is the commonly quoted 14.3.513.0.
#[test]
fn exchange_2010_has_only_cve_2021_26857() {
    let fix = b("14.3.513.0");
    for (at, status) in [
        ("14.3.513.0", Fixed),
        ("14.3.513", Fixed),
        ("14.3.520.1", Fixed),
        ("14.3.509.0", Vulnerable),
        // http-vuln-exchange.nse calls 496 undeterminable and > 496 patched; we keep to the
        // 14.3.513.0 fix, so these stay vulnerable.
        ("14.3.496.0", Vulnerable),
        ("14.3.509", Vulnerable),
        ("14.3.123.4", Vulnerable),
        ("14.2.247.5", Vulnerable),
    ] {
        let patch = table().patch_status(&b(at));
        assert_eq!(patch.len(), 1, "{at}: ProxyShell and ProxyNotShell do not apply: {patch:?}");
        let entry = &patch[0];
        assert_eq!(entry.family, PL, "{at}");
        assert_eq!(entry.cves, vec!["CVE-2021-26857".to_owned()], "{at}");
        assert_eq!(entry.status, status, "{at}");
        assert_eq!(entry.fixed_in, Some(fix), "{at}");
        assert!(entry.note.contains("unverified"), "{at}: {}", entry.note);
        assert_eq!(table().product(&b(at)).unwrap().name, "Exchange Server 2010");
        assert_eq!(table().fully_patched_build(&b(at)), Some(fix));
    }
}

/// "Any 2013 CU < 21, 2016 CU < 8 or 2019 without an SU in the table is vulnerable to all three
/// families, with no SU available."
#[test]
fn cus_without_any_su_are_vulnerable_to_all() {
    for old in [
        "15.0.516.32",  // 2013 RTM, older than SP1
        "15.0.1367.3",  // 2013 CU20, between SP1 and CU21
        "15.0.1367",    // the same, 3-part
        "15.1.225.42",  // 2016 RTM
        "15.1.1261.35", // 2016 CU7
        "15.2.221.12",  // 2019 RTM
    ] {
        assert_eq!(statuses(old), vec![(PL, Vulnerable), (PS, Vulnerable), (PNS, Vulnerable)], "{old}");
        assert_eq!(table().product(&b(old)), None, "{old}");
        assert_eq!(table().fully_patched_build(&b(old)), None, "{old}");
        assert!(table().known_builds(&b(old)).is_empty(), "{old}");
        for entry in table().patch_status(&b(old)) {
            assert_eq!(entry.fixed_in, None);
            assert!(entry.note.contains("upgrade to a supported CU"), "{}", entry.note);
        }
    }
}

/// Builds the table cannot place are `unknown`, with a note, rather than guessed.
#[test]
fn builds_outside_the_table_are_unknown() {
    for odd in [
        "15.3.100.1", // no such version
        "8.3.83.6",   // Exchange 2007
        "15.0.0.0",   // the placeholder of ECP log headers
        "15.1.0.0",
    ] {
        let patch = table().patch_status(&b(odd));
        assert_eq!(patch.len(), 3, "{odd}");
        for entry in &patch {
            assert_eq!(entry.status, Unknown, "{odd} {}", entry.family);
            assert_eq!(entry.fixed_in, None);
            assert!(!entry.note.is_empty());
        }
        assert_eq!(table().product(&b(odd)), None, "{odd}");
        assert_eq!(table().fully_patched_build(&b(odd)), None, "{odd}");
    }
    assert!(table().patch_status(&b("15.0.0.0"))[0].note.contains("placeholder"));
}

/// The note is one sentence a non-expert can act on.
#[test]
fn notes_say_what_to_do() {
    let patch = table().patch_status(&b("15.1.2176.2"));
    assert_eq!(patch[0].note, "Exchange Server 2016 CU19 without the March 2021 SU: install it (15.1.2176.9) or later");
    assert_eq!(
        patch[2].note,
        "no November 2022 SU was released for Exchange Server 2016 CU19: upgrade to a supported CU"
    );
    let patch = table().patch_status(&b("15.1.2176"));
    assert!(patch[0].note.contains("cannot tell"), "{}", patch[0].note);
    let patch = table().patch_status(&b("15.1.2375.37"));
    assert_eq!(patch[2].note, "15.1.2375.37 includes the November 2022 SU (15.1.2375.37)");
}

// ---------------------------------------------------------------------------------------------
// Build parsing, display, ordering, serde.

#[test]
fn parses_zero_padded_log_header_versions() {
    let build = b("15.01.2375.007");
    assert_eq!(build, Build::new(15, 1, 2375, Some(7)));
    assert_eq!(build.to_string(), "15.1.2375.7");
    assert_eq!(build.precision(), Precision::Full);
    assert_eq!(b("15.1.2375.7"), build);
    assert_eq!(b(" 15.1.2375.7\r\n"), build);
}

#[test]
fn parses_three_part_builds() {
    let build = b("15.1.2375");
    assert_eq!(build, Build::new(15, 1, 2375, None));
    assert_eq!(build.precision(), Precision::Cu);
    assert_eq!(build.to_string(), "15.1.2375");
    assert_ne!(build, b("15.1.2375.0"));
}

#[test]
fn parses_placeholder_builds_for_the_caller_to_judge() {
    let build = b("15.0.0.0");
    assert!(build.is_placeholder());
    assert!(!b("15.1.2375.7").is_placeholder());
}

#[test]
fn rejects_garbage() {
    for garbage in [
        "",
        " ",
        "15",
        "15.1",
        "15.1.2375.7.1",
        "15..2375.7",
        "15.1.2375.",
        ".15.1.2375",
        "a.b.c",
        "15.1.2375.7x",
        "v15.1.2375.7",
        "15.1.+2375.7",
        "15.1.-1.0",
        "15.1. 2375.7",
        "15,1,2375,7",
        "70000.1.2375.7",
        "15.1.99999999999.7",
        "Version 15.0 (Build 0.0)",
    ] {
        let error = garbage.parse::<Build>().expect_err(garbage);
        assert!(error.to_string().contains("not an Exchange build"), "{error}");
    }
}

#[test]
fn orders_by_parts_with_three_part_first() {
    let mut builds = [
        b("15.2.330.5"),
        b("15.1.2176.9"),
        b("15.1.2176.10"),
        b("15.1.2176"),
        b("15.1.2176.0"),
        b("15.1.2242.4"),
        b("15.0.1497.44"),
        b("14.3.513.0"),
    ];
    builds.sort();
    let text: Vec<String> = builds.iter().map(Build::to_string).collect();
    assert_eq!(
        text,
        [
            "14.3.513.0",
            "15.0.1497.44",
            "15.1.2176",
            "15.1.2176.0",
            "15.1.2176.9",
            "15.1.2176.10",
            "15.1.2242.4",
            "15.2.330.5"
        ]
    );
}

#[test]
fn serialises_as_the_report_contract() {
    assert_eq!(serde_json::to_value(b("15.01.2375.007")).unwrap(), "15.1.2375.7");
    assert_eq!(serde_json::to_value(Precision::Full).unwrap(), "full");
    assert_eq!(serde_json::to_value(Precision::Cu).unwrap(), "cu");
    assert_eq!(serde_json::to_value(Status::Vulnerable).unwrap(), "vulnerable");
    assert_eq!(serde_json::to_value(Status::Fixed).unwrap(), "fixed");
    assert_eq!(serde_json::to_value(Status::Unknown).unwrap(), "unknown");
    assert_eq!(serde_json::to_value(PL).unwrap(), "ProxyLogon");
    assert_eq!(serde_json::to_value(PS).unwrap(), "ProxyShell");
    assert_eq!(serde_json::to_value(PNS).unwrap(), "ProxyNotShell");

    let patch = table().patch_status(&b("15.1.2176.2"));
    let json = serde_json::to_value(&patch).unwrap();
    assert_eq!(json[0]["family"], "ProxyLogon");
    assert_eq!(
        json[0]["cves"],
        serde_json::json!(["CVE-2021-26855", "CVE-2021-26857", "CVE-2021-26858", "CVE-2021-27065"])
    );
    assert_eq!(json[0]["status"], "vulnerable");
    assert_eq!(json[0]["fixed_in"], "15.1.2176.9");
    assert_eq!(json[2]["fixed_in"], serde_json::Value::Null);

    // Round trip, as the service ingests reports.
    let back: Vec<FamilyStatus> = serde_json::from_value(json).unwrap();
    assert_eq!(back, patch);
    let build: Build = serde_json::from_str("\"15.01.2375.007\"").unwrap();
    assert_eq!(build, b("15.1.2375.7"));
    assert!(serde_json::from_str::<Build>("\"garbage\"").is_err());
}

// ---------------------------------------------------------------------------------------------
// The data file and its parser.

const DATA: &str = include_str!("../data/exchange-builds.csv");

#[test]
fn builtin_table_has_every_row() {
    let rows = DATA.lines().filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#')).count() - 1; // the header
    // 31 rows of C.1 for 2013 CU21 – 2019 CU12, 2019 CU13, CU14, CU15, SE RTM, 2013 SP1 and
    // Exchange 2010.
    assert_eq!(rows, 37);
    let table = BuildTable::parse(DATA).expect("the shipped table parses");
    table.with_updates(UPDATES).expect("the shipped updates parse");
}

const UPDATES: &str = include_str!("../data/exchange-updates.csv");
const UPDATE_HEADER: &str = "release,build,update,released,kb,source";

#[test]
fn updates_are_data() {
    let table = BuildTable::parse(&small_table(&[GOOD_ROW]))
        .unwrap()
        .with_updates(&format!(
            "{UPDATE_HEADER}\nExchange Server 2016 CU19,15.1.2176.20,Jan99SU,2099-01,,made up, with commas\n"
        ))
        .unwrap();
    assert_eq!(table.known_builds(&b("15.1.2176")).last(), Some(&b("15.1.2176.20")));
    let update = table.update(&b("15.1.2176.20")).unwrap();
    assert_eq!((update.name.as_str(), update.released.as_str(), update.kb.as_deref()), ("Jan99SU", "2099-01", None));
}

#[test]
fn malformed_updates_name_the_line() {
    let cases: &[(&str, &str)] = &[
        ("Exchange Server 2016 CU20,15.1.2242.9,Jan99SU,2099-01,,x", "not a release"),
        ("Exchange Server 2016 CU19,15.1.2242.9,Jan99SU,2099-01,,x", "not a later build"),
        ("Exchange Server 2016 CU19,15.1.2176.1,Jan99SU,2099-01,,x", "not a later build"),
        ("Exchange Server 2016 CU19,15.1.2176,Jan99SU,2099-01,,x", "4-part"),
        ("Exchange Server 2016 CU19,15.1.2176.20,January,2099-01,,x", "column update"),
        ("Exchange Server 2016 CU19,15.1.2176.20,Jan99XU,2099-01,,x", "column update"),
        ("Exchange Server 2016 CU19,15.1.2176.20,Jan99SUv,2099-01,,x", "column update"),
        ("Exchange Server 2016 CU19,15.1.2176.20,Jan99SU,2099-13,,x", "column released"),
        ("Exchange Server 2016 CU19,15.1.2176.20,Jan99SU,1/2/2099,,x", "column released"),
        ("Exchange Server 2016 CU19,15.1.2176.20,Jan99SU,2099-01,5001234,x", "column kb"),
        ("Exchange Server 2016 CU19,15.1.2176.20,Jan99SU,2099-01,,", "column source"),
        ("Exchange Server 2016 CU19,15.1.2176.20,Jan99SU,2099-01", "columns"),
    ];
    let table = || BuildTable::parse(&small_table(&[GOOD_ROW])).unwrap();
    for (line, needle) in cases {
        let error = table().with_updates(&format!("# c\n{UPDATE_HEADER}\n{line}\n")).expect_err(needle);
        assert_eq!(error.line, 3, "{needle}: {error}");
        assert!(error.message.contains(needle), "{needle}: {error}");
    }
    // Within a release the builds ascend.
    let text = format!(
        "{UPDATE_HEADER}\nExchange Server 2016 CU19,15.1.2176.20,Jan99SU,2099-01,,x\nExchange Server 2016 CU19,15.1.2176.20,Feb99SU,2099-02,,x\n"
    );
    let error = table().with_updates(&text).unwrap_err();
    assert_eq!((error.line, error.message.contains("previous update")), (3, true), "{error}");
    let error = table().with_updates("release,build\n").unwrap_err();
    assert!(error.message.contains("header"), "{error}");
    assert!(table().with_updates("# nothing\n").unwrap_err().message.contains("no header"));
    // Only a `cu` row takes updates: the 2010 row covers a whole major version.
    let table2010 = BuildTable::parse(&small_table(&[
        "Exchange Server 2010,,14.0.639.21,major,14.3.513.0,n/a,n/a,n/a,CVE-2021-26857,x",
    ]))
    .unwrap();
    let error = table2010
        .with_updates(&format!("{UPDATE_HEADER}\nExchange Server 2010,14.0.639.30,Jan99SU,2099-01,,x\n"))
        .unwrap_err();
    assert!(error.message.contains("not a later build"), "{error}");
}

const HEADER: &str = "product,cu,rtm,scope,proxylogon,proxyshell_apr21,proxyshell_may21,proxynotshell,cves,source_note";

fn small_table(rows: &[&str]) -> String {
    let mut text = format!("# a comment\n\n{HEADER}\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text
}

const GOOD_ROW: &str =
    "Exchange Server 2016,CU19,15.1.2176.2,cu,15.1.2176.9,15.1.2176.12,15.1.2176.14,none,,notes, with commas";

#[test]
fn a_table_is_data() {
    // The same build judged by another table gives that table's answer.
    let table = BuildTable::parse(&small_table(&[
        "Exchange Server 2016,CU19,15.1.2176.2,cu,15.1.2176.3,in-cu,in-cu,15.1.2176.4,,made up",
    ]))
    .unwrap();
    let patch: Vec<(Family, Status)> =
        table.patch_status(&b("15.1.2176.3")).iter().map(|s| (s.family, s.status)).collect();
    assert_eq!(patch, vec![(PL, Fixed), (PS, Fixed), (PNS, Vulnerable)]);
    assert_eq!(table.fully_patched_build(&b("15.1.2176.3")), Some(b("15.1.2176.4")));
}

#[test]
fn malformed_tables_name_the_line() {
    let cases: &[(&[&str], usize, &str)] = &[
        // Line numbers: 1 comment, 2 blank, 3 header, 4.. rows.
        (&[GOOD_ROW, "Exchange Server 2016,CU20,15.1.2242,cu,in-cu,15.1.2242.8,15.1.2242.10,none,,x"], 5, "4-part"),
        (&["Exchange Server 2016,CU20,15.1.2242.4,cu,in-cu,15.1.2242.8"], 4, "columns"),
        (&[GOOD_ROW, GOOD_ROW], 5, "overlaps"),
        (&["Exchange Server 2016,CU19,15.1.2176.2,cu,fixed,none,none,none,,x"], 4, "proxylogon"),
        (&["Exchange Server 2016,CU19,15.1.2176.2,cu,15.1.2177.9,none,none,none,,x"], 4, "not a later build"),
        (&["Exchange Server 2016,CU19,15.1.2176.2,cu,15.1.2176.1,none,none,none,,x"], 4, "not a later build"),
        (&["Exchange Server 2016,CU19,15.1.2176.2,cu,15.1.2176,none,none,none,,x"], 4, "4-part"),
        (&["Exchange Server 2016,CU19,15.1.2176.2,everything,in-cu,none,none,none,,x"], 4, "scope"),
        (&["Exchange Server 2016,CU19,15.1.2176.2,cu,in-cu,n/a,none,none,,x"], 4, "ProxyShell"),
        (&["Exchange Server 2016,CU19,15.1.2176.2,cu,n/a,n/a,n/a,n/a,,x"], 4, "no family"),
        (&["Exchange Server 2016,CU19,15.1.2176.2,cu,in-cu,none,none,none,CVE-2099-1,x"], 4, "CVE-2099-1"),
        (&["Exchange Server 2016,CU19,15.1.2176.2,cu,in-cu,none,none,none,CVE-2021-26857,x"], 4, "ProxyShell applies"),
        (&[",CU19,15.1.2176.2,cu,in-cu,none,none,none,,x"], 4, "product"),
    ];
    for (rows, line, needle) in cases {
        let error = BuildTable::parse(&small_table(rows)).expect_err(needle);
        assert_eq!(error.line, *line, "{needle}: {error}");
        assert!(error.to_string().starts_with(&format!("line {line}: ")), "{error}");
        assert!(error.message.contains(needle), "{needle}: {error}");
    }

    let error = BuildTable::parse("# only a comment\nproduct,cu,rtm\n").unwrap_err();
    assert_eq!((error.line, error.message.contains("header")), (2, true), "{error}");
    let error = BuildTable::parse(&small_table(&[])).unwrap_err();
    assert!(error.message.contains("no rows"), "{error}");
    let error = BuildTable::parse("").unwrap_err();
    assert_eq!(error.line, 1, "{error}");
}
