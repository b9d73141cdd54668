//! `/`: the state of the campaign at a glance — organisations and hosts per technical ×
//! communication state, the urgent lists, the trend of host states, the latest ingests. The
//! matrix and the trend come from the summaries the database keeps (`service::summary`), so the
//! page costs a few small reads whatever the size of the campaign.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use serde_json::{Value, json};
use taskforce_service::api::AppState;
use taskforce_service::query::{self, HostFilter, OrgFilter, PageParams};
use taskforce_service::state::{CommState, TechState};
use taskforce_service::{dashboard, summary};

use super::QueryPairs;
use crate::auth::Viewer;
use crate::render::{PageResult, page as render_page};

pub async fn page(State(s): State<AppState>, viewer: Viewer, Query(q): Query<QueryPairs>) -> PageResult {
    if !viewer.is_staff() {
        return Ok(Redirect::to("/portal").into_response());
    }
    let db = &s.db;
    let at = super::orgs::past_date(&q)?;
    // The past-date view: the counts as the state history knew them at the end of that day.
    let past = match &at {
        Some((day, bound)) => Some(past_counts(day, &query::stats(db, Some(bound)).await?)),
        None => None,
    };
    let cells = summary::matrix(db).await?;
    let techs: Vec<&str> = TechState::ALL.iter().map(|t| t.as_str()).collect();
    let comms: Vec<&str> = CommState::ALL.iter().map(|c| c.as_str()).collect();
    // Rows: technical states (worst first); columns: communication states.
    let matrix: Vec<Value> = techs
        .iter()
        .map(|t| {
            let row: Vec<Value> = comms
                .iter()
                .map(|c| {
                    let cell = cells.iter().find(|x| x.tech_state == *t && x.comm_state == *c);
                    json!({"comm": c, "orgs": cell.map_or(0, |x| x.organisations), "hosts": cell.map_or(0, |x| x.hosts)})
                })
                .collect();
            json!({"tech": t, "cells": row})
        })
        .collect();
    let urgent = query::list_orgs(
        db,
        &OrgFilter {
            state: Some("compromised".into()),
            comm_state: Some("not_contacted".into()),
            ..OrgFilter::default()
        },
        PageParams { page: 1, per_page: 10 },
    )
    .await??;
    let regressed = query::list_hosts(
        db,
        &HostFilter { regressed: Some(true), ..HostFilter::default() },
        PageParams { page: 1, per_page: 10 },
    )
    .await??;
    let trend = summary::trend(db, 90).await?;
    let ingests = dashboard::ingests(db, PageParams { page: 1, per_page: 8 }).await?;
    let (notifications, _) = taskforce_notify::api::outbox_page(db, None, None, 8, 0).await?;
    Ok(render_page(
        "overview.html",
        json!({
            "title": "Overview",
            "viewer": viewer.context(),
            "comms": comms,
            "matrix": matrix,
            "urgent": urgent,
            "regressed": regressed,
            "chart": chart(&trend),
            "ingests": ingests.items,
            "notifications": notifications,
            "past": past,
            "at_day": at.as_ref().map(|(day, _)| day),
        }),
    )?
    .into_response())
}

/// The past-date counts in the states' order (worst first), for the template.
fn past_counts(day: &str, st: &query::Stats) -> Value {
    let per = |m: &std::collections::BTreeMap<String, i64>, names: &[&str]| -> Vec<Value> {
        names.iter().map(|n| json!({"state": n, "count": m.get(*n).copied().unwrap_or(0)})).collect()
    };
    let techs: Vec<&str> = TechState::ALL.iter().map(|t| t.as_str()).collect();
    let comms: Vec<&str> = CommState::ALL.iter().map(|c| c.as_str()).collect();
    json!({
        "day": day,
        "organisations": per(&st.organisations, &techs),
        "hosts": per(&st.hosts, &techs),
        "communication": per(&st.communication, &comms),
        "urgent": st.urgent,
        "regressed": st.regressed_hosts,
    })
}

/// The trend as SVG geometry: one polyline per state, axes and labels. Computed here so the
/// template only places numbers (no markup is built from data).
fn chart(points: &[dashboard::TrendPoint]) -> Value {
    const W: f64 = 720.0;
    const H: f64 = 220.0;
    const LEFT: f64 = 48.0;
    const BOTTOM: f64 = 24.0;
    if points.is_empty() {
        return Value::Null;
    }
    let max = points.iter().flat_map(|p| p.counts.values()).copied().max().unwrap_or(0).max(1) as f64;
    let n = points.len();
    let x =
        |i: usize| if n == 1 { LEFT + (W - LEFT) / 2.0 } else { LEFT + (W - LEFT - 8.0) * i as f64 / (n - 1) as f64 };
    let y = |v: i64| 8.0 + (H - BOTTOM - 8.0) * (1.0 - v as f64 / max);
    let series: Vec<Value> = TechState::ALL
        .iter()
        .map(|t| {
            let pts: Vec<String> = points
                .iter()
                .enumerate()
                .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.counts.get(t.as_str()).copied().unwrap_or(0))))
                .collect();
            let last = points.last().and_then(|p| p.counts.get(t.as_str()).copied()).unwrap_or(0);
            json!({"state": t.as_str(), "points": pts.join(" "), "last": last})
        })
        .collect();
    let table: Vec<Value> = points
        .iter()
        .rev()
        .take(14)
        .map(|p| json!({"day": p.day, "counts": TechState::ALL.iter().map(|t| p.counts.get(t.as_str()).copied().unwrap_or(0)).collect::<Vec<_>>()}))
        .collect();
    json!({
        "width": W, "height": H, "left": LEFT, "base": H - BOTTOM,
        "max": max as i64, "mid": (max / 2.0).round() as i64, "mid_y": y((max / 2.0).round() as i64),
        "first_day": points[0].day, "last_day": points[n - 1].day,
        "series": series,
        "states": TechState::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "table": table,
    })
}
