//! One module per page (or group of pages), plus what they share: query parameters, pagination
//! links and the spooling of uploaded files.

pub mod admin;
pub mod assets;
pub mod hosts;
pub mod ingests;
pub mod notifications;
pub mod orgs;
pub mod overview;
pub mod portal;
pub mod upload;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use taskforce_service::query::{Cursor, Page, PageParams, Seek};

use crate::render::{PageError, PageResult};

/// What a query-string component must encode (RFC 3986 unreserved characters stay as they are).
pub const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Query parameters as given (`?a=1&b=`).
pub type QueryPairs = Vec<(String, String)>;

/// A non-empty, trimmed parameter (an empty select means "any").
pub fn param(q: &[(String, String)], name: &str) -> Option<String> {
    q.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// `page` and `per_page` (default 50, at most 1,000 as in the API).
pub fn page_params(q: &[(String, String)], prefix: &str) -> PageResult<PageParams> {
    let num = |name: String, default: u32| -> PageResult<u32> {
        match param(q, &name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| PageError::BadRequest(format!("not a page number: {v:?}"))),
        }
    };
    Ok(PageParams { page: num(format!("{prefix}page"), 1)?, per_page: num(format!("{prefix}per_page"), 50)? })
}

/// Where a keyed list's page starts: `{prefix}cursor=` (after a row: "next"),
/// `{prefix}before=` (before a row, or `end` for the last page: "previous", "last"), else
/// `{prefix}page=` (a page number: `OFFSET`, cheap only near the start, so the links never
/// lead deep by number).
pub fn seek_params(q: &[(String, String)], prefix: &str) -> PageResult<(PageParams, Seek)> {
    let p = page_params(q, prefix)?;
    let cursor = |v: &str| Cursor::parse(v).map_err(|e| PageError::BadRequest(e.0));
    let seek = if let Some(v) = param(q, &format!("{prefix}cursor")) {
        Seek::After(cursor(&v)?)
    } else if let Some(v) = param(q, &format!("{prefix}before")) {
        Seek::Before(if v == "end" { Cursor::END } else { cursor(&v)? })
    } else {
        Seek::Page
    };
    Ok((p, seek))
}

/// First/previous/next/last links of a keyed list ([`seek_params`]), keeping the other
/// parameters: every link is a seek on the list's key, so the last page costs what the first
/// does. The page number is shown only when the page was asked by number.
pub fn keyset_pager<T>(p: &Page<T>, path: &str, q: &[(String, String)], prefix: &str) -> Value {
    let per = p.per_page.max(1) as i64;
    let pages = ((p.total + per - 1) / per).max(1);
    let own: Vec<String> = ["page", "cursor", "before"].iter().map(|k| format!("{prefix}{k}")).collect();
    let link = |key: Option<(&str, &str)>| -> String {
        let mut parts: Vec<String> = q
            .iter()
            .filter(|(k, v)| !own.contains(k) && !v.is_empty())
            .map(|(k, v)| format!("{}={}", utf8_percent_encode(k, COMPONENT), utf8_percent_encode(v, COMPONENT)))
            .collect();
        if let Some((k, v)) = key {
            parts.push(format!("{prefix}{k}={}", utf8_percent_encode(v, COMPONENT)));
        }
        if parts.is_empty() { path.to_string() } else { format!("{path}?{}", parts.join("&")) }
    };
    let on_first = p.prev_cursor.is_none();
    let on_last = p.next_cursor.is_none();
    json!({
        "page": p.page,
        "pages": pages,
        "total": p.total,
        "first": if on_first { None } else { Some(link(None)) },
        "prev": p.prev_cursor.as_deref().map(|c| link(Some(("before", c)))),
        "next": p.next_cursor.as_deref().map(|c| link(Some(("cursor", c)))),
        "last": if on_last { None } else { Some(link(Some(("before", "end")))) },
    })
}

/// Previous/next links of a list, keeping the other parameters; `prefix` tells apart several
/// lists on one page (`hosts_page`, `events_page`).
pub fn pager<T>(p: &Page<T>, path: &str, q: &[(String, String)], prefix: &str) -> Value {
    let per = p.per_page.max(1) as i64;
    let pages = ((p.total + per - 1) / per).max(1);
    let page_key = format!("{prefix}page");
    let link = |n: i64| -> String {
        let mut parts: Vec<String> = q
            .iter()
            .filter(|(k, v)| *k != page_key && !v.is_empty())
            .map(|(k, v)| format!("{}={}", utf8_percent_encode(k, COMPONENT), utf8_percent_encode(v, COMPONENT)))
            .collect();
        parts.push(format!("{page_key}={n}"));
        format!("{path}?{}", parts.join("&"))
    };
    let page = p.page as i64;
    json!({
        "page": page,
        "pages": pages,
        "total": p.total,
        "first": if page > 1 { Some(link(1)) } else { None },
        "prev": if page > 1 { Some(link(page - 1)) } else { None },
        "next": if page < pages { Some(link(page + 1)) } else { None },
        "last": if page < pages { Some(link(pages)) } else { None },
    })
}
