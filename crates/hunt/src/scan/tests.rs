//! A file cut into pieces must read exactly like the same file read in one pass.

use super::*;

const HEADER: &str = "#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n#Date: 2021-03-03 00:00:00\r\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n";
/// The same columns in another order, as a restarted IIS may write them.
const SECOND_HEADER: &str = "#Software: Microsoft Internet Information Services 10.0\r\n#Fields: date time cs-host s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n";

fn line(i: usize, second_layout: bool) -> String {
    let t = format!("2021-03-03 {:02}:{:02}:{:02}", (i / 3600) % 24, (i / 60) % 60, i % 60);
    let host = if second_layout { " mail.contoso.com" } else { "" };
    match i % 7 {
        // Scanner probes and an attack: lines the rules match.
        0 => format!(
            "{t}{host} 10.0.0.5 GET /owa/auth/x.js - 443 - 198.51.100.{} Mozilla/5.0+zgrab/0.x - 404 0 0 15",
            i % 250
        ),
        3 => format!(
            "{t}{host} 10.0.0.5 POST /aspnet_client/discover.aspx - 443 - 203.0.113.45 antSword/v2.1 - 200 0 0 15"
        ),
        // A percent-encoded literal.
        5 => {
            format!("{t}{host} 10.0.0.5 POST /%61spnet_client/shell.aspx - 443 - 203.0.113.46 Mozilla/5.0 - 200 0 0 15")
        }
        _ => format!("{t}{host} 10.0.0.5 GET /owa/ - 443 - 10.0.0.{} Mozilla/5.0 - 200 0 0 15", i % 200),
    }
}

/// An IIS log with CRLF lines, a header block half-way that reorders the columns, and (when
/// `newline_at_end` is false) a last line without its newline.
fn log(lines: usize, newline_at_end: bool) -> String {
    let mut text = HEADER.to_string();
    for i in 0..lines {
        let second = i >= lines / 2;
        if i == lines / 2 {
            text.push_str(SECOND_HEADER);
        }
        text.push_str(&line(i, second));
        text.push_str("\r\n");
    }
    if !newline_at_end {
        text.truncate(text.len() - 2);
    }
    text
}

type Seen = (Vec<(RuleRef, u64, Option<Timestamp>, String, Effect)>, Vec<(RuleRef, Effect, u64)>, Option<Timestamp>);

fn read(text: &str, split: Split, cap: usize) -> Seen {
    let rules = RuleSet::load(true, &[]);
    let reader: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(text.as_bytes().to_vec()));
    let tuning = Tuning { thorough: false, max_hits_per_rule: cap, window: (None, None) };
    let outcome = scan_split(
        reader,
        Some(text.len() as u64),
        Identify::Known(LogSource::Iis, Format::W3c),
        &rules,
        tuning,
        None,
        &|_| {},
        split,
    );
    let Outcome::Scanned { scan, .. } = outcome else { panic!("not scanned: {outcome:?}") };
    let hits = scan.hits.iter().map(|h| (h.rule, h.line, h.time, h.excerpt.clone(), h.hit.effect)).collect();
    let mut overflow: Vec<_> = scan.overflow.iter().map(|o| (o.rule, o.effect, o.count)).collect();
    overflow.sort_by_key(|o| format!("{o:?}"));
    (hits, overflow, scan.last)
}

#[test]
fn a_file_cut_into_pieces_reads_like_one_pass() {
    let whole = Split { min_piece: usize::MAX, max_pieces: 1 };
    for newline_at_end in [true, false] {
        let text = log(2_000, newline_at_end);
        for cap in [1_000, 7] {
            let expected = read(&text, whole, cap);
            if cap == 1_000 {
                assert!(expected.0.len() > 500, "the log has hits: {}", expected.0.len());
            } else {
                assert!(!expected.1.is_empty(), "the cap is reached");
            }
            for pieces in [2, 3, 5, 16, 64] {
                let split = Split { min_piece: 1, max_pieces: pieces };
                assert_eq!(
                    read(&text, split, cap),
                    expected,
                    "{pieces} pieces, cap {cap}, newline at end {newline_at_end}"
                );
            }
        }
    }
}

#[test]
fn line_numbers_are_those_of_the_file_and_the_lines_at_the_cuts_are_read() {
    // Every data line is a hit, so the lines that hold the cut points are hits too.
    let mut text = HEADER.to_string();
    for i in 0..300 {
        text.push_str(&line(i * 7 + 3, false));
        text.push_str("\r\n");
    }
    text.truncate(text.len() - 2); // the last line has no newline
    let lines: Vec<&str> = text.split("\r\n").collect();
    let ranges = lines::split_at_lines(text.as_bytes(), 4);
    assert_eq!(ranges.len(), 4);
    let (hits, _, _) = read(&text, Split { min_piece: 1, max_pieces: 4 }, 1_000);
    let mut numbers: Vec<u64> = hits.iter().map(|h| h.1).collect();
    numbers.dedup();
    assert_eq!(numbers.len(), 300, "every data line is a hit");
    for h in &hits {
        assert_eq!(lines[h.1 as usize - 1], h.3, "line {} is the excerpt", h.1);
    }
    for r in &ranges[..3] {
        let cut_line = text.as_bytes()[..r.end].iter().filter(|&&b| b == b'\n').count() as u64;
        assert!(hits.iter().any(|h| h.1 == cut_line), "line {cut_line}, which ends a piece, is a hit");
        assert!(hits.iter().any(|h| h.1 == cut_line + 1), "line {}, which starts a piece, is a hit", cut_line + 1);
    }
    assert_eq!(hits.last().unwrap().1, lines.len() as u64, "the last line, without newline, is read");
}
