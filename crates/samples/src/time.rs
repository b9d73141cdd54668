//! Timestamps as milliseconds since the Unix epoch (UTC), with the civil-date conversions of
//! Howard Hinnant's `chrono`-compatible algorithms. No time-zone handling: every log we write is
//! UTC, as Exchange and (by default) IIS write them.

pub(crate) const SEC: i64 = 1_000;
pub(crate) const MIN: i64 = 60 * SEC;
pub(crate) const HOUR: i64 = 60 * MIN;
pub(crate) const DAY: i64 = 24 * HOUR;

pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Milliseconds since the epoch for a UTC civil time.
pub(crate) fn at(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> i64 {
    days_from_civil(y, mo, d) * DAY + i64::from(h) * HOUR + i64::from(mi) * MIN + i64::from(s) * SEC + i64::from(ms)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts {
    pub y: i64,
    pub mo: u32,
    pub d: u32,
    pub h: u32,
    pub mi: u32,
    pub s: u32,
    pub ms: u32,
}

pub(crate) fn parts(ts: i64) -> Parts {
    let days = ts.div_euclid(DAY);
    let rem = ts.rem_euclid(DAY);
    let (y, mo, d) = civil_from_days(days);
    Parts {
        y,
        mo,
        d,
        h: (rem / HOUR) as u32,
        mi: (rem % HOUR / MIN) as u32,
        s: (rem % MIN / SEC) as u32,
        ms: (rem % SEC) as u32,
    }
}

#[inline]
fn push2(buf: &mut Vec<u8>, v: u32) {
    buf.push(b'0' + (v / 10) as u8);
    buf.push(b'0' + (v % 10) as u8);
}

fn push_date(buf: &mut Vec<u8>, p: &Parts) {
    let y = p.y as u32;
    push2(buf, y / 100);
    push2(buf, y % 100);
    buf.push(b'-');
    push2(buf, p.mo);
    buf.push(b'-');
    push2(buf, p.d);
}

fn push_hms(buf: &mut Vec<u8>, p: &Parts) {
    push2(buf, p.h);
    buf.push(b':');
    push2(buf, p.mi);
    buf.push(b':');
    push2(buf, p.s);
}

/// `2021-03-03T04:21:12.345Z`: the Exchange log timestamp.
pub(crate) fn push_iso(buf: &mut Vec<u8>, ts: i64) {
    let p = parts(ts);
    push_date(buf, &p);
    buf.push(b'T');
    push_hms(buf, &p);
    buf.push(b'.');
    buf.push(b'0' + (p.ms / 100) as u8);
    push2(buf, p.ms % 100);
    buf.push(b'Z');
}

/// `2021-03-03 04:21:12`: the IIS W3C `date time` pair (and its `#Date:` header).
pub(crate) fn push_iis(buf: &mut Vec<u8>, ts: i64) {
    let p = parts(ts);
    push_date(buf, &p);
    buf.push(b' ');
    push_hms(buf, &p);
}

pub(crate) fn iso(ts: i64) -> String {
    let mut v = Vec::with_capacity(24);
    push_iso(&mut v, ts);
    String::from_utf8(v).expect("ASCII")
}

/// `YYYYMMDD`
pub(crate) fn ymd(ts: i64) -> String {
    let p = parts(ts);
    format!("{:04}{:02}{:02}", p.y, p.mo, p.d)
}

/// `YYYYMMDDHH`, as in `HttpProxy_2021030304-1.LOG`.
pub(crate) fn ymdh(ts: i64) -> String {
    let p = parts(ts);
    format!("{:04}{:02}{:02}{:02}", p.y, p.mo, p.d, p.h)
}

/// `YYMMDD`, as in `u_ex210303.log`.
pub(crate) fn yymmdd(ts: i64) -> String {
    let p = parts(ts);
    format!("{:02}{:02}{:02}", p.y % 100, p.mo, p.d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_format() {
        let t = at(2021, 3, 3, 4, 21, 12, 345);
        assert_eq!(iso(t), "2021-03-03T04:21:12.345Z");
        let mut v = Vec::new();
        push_iis(&mut v, t);
        assert_eq!(v, b"2021-03-03 04:21:12");
        assert_eq!(ymdh(t), "2021030304");
        assert_eq!(yymmdd(t), "210303");
        assert_eq!(iso(at(2024, 2, 29, 23, 59, 59, 999) + 1), "2024-03-01T00:00:00.000Z");
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        for z in [-1000, 0, 18_000, 19_000, 20_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }
}
