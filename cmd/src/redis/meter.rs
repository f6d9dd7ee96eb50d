//! `meter`: the relay meter's counters, uPOKT of the application's stake
//! consumed per (supplier, session), with the application and service the
//! miner recorded for the session when it has one.

use std::fmt::Write as _;

use anyhow::Context;
use fred::prelude::*;
use serde::Serialize;

use super::{Ctx, HOLE, Report, Template, scan, ttl_text};

/// `meter` options.
#[derive(Debug, clap::Args)]
pub struct MeterArgs {
    /// Only this supplier.
    #[arg(long)]
    supplier: Option<String>,
    /// Only this session.
    #[arg(long)]
    session: Option<String>,
    /// Only sessions of this application (known from the miner's session
    /// state; counters of sessions the miner has not seen are left out).
    #[arg(long)]
    app: Option<String>,
}

/// `meter`.
#[derive(Debug, Serialize)]
pub struct MeterReport {
    counters: Vec<Counter>,
    /// Sum of `consumed_upokt` over the counters shown.
    total_consumed_upokt: u64,
}

#[derive(Debug, Serialize)]
struct Counter {
    supplier: String,
    session_id: String,
    /// From the miner's session state, `null` when it has none.
    application: Option<String>,
    service: Option<String>,
    consumed_upokt: u64,
    ttl_ms: Option<i64>,
}

/// `meter`.
pub(crate) async fn meter(ctx: &Ctx, args: &MeterArgs) -> anyhow::Result<MeterReport> {
    let template = Template::new(ctx.keys.meter_consumed(HOLE, HOLE));
    let pattern = match &args.supplier {
        Some(s) => Template::new(ctx.keys.meter_consumed(s, HOLE)).glob(),
        None => template.glob(),
    };
    let (found, _) = scan(ctx, &pattern, None).await?;
    let mut counters = Vec::new();
    for key in found {
        let Some([supplier, session]) = template
            .capture(&key)
            .and_then(|c| <[&str; 2]>::try_from(c).ok())
        else {
            continue;
        };
        if args.session.as_deref().is_some_and(|s| s != session) {
            continue;
        }
        let state_key = ctx.keys.session_state(supplier, session);
        let (application, service): (Option<String>, Option<String>) = ctx
            .pool
            .hmget(&state_key, vec!["application", "service"])
            .await
            .with_context(|| format!("HMGET {state_key}"))?;
        if let Some(app) = &args.app
            && application.as_deref() != Some(app.as_str())
        {
            continue;
        }
        let consumed: Option<u64> = ctx.pool.get(&key).await.context("GET meter")?;
        let ttl_ms = super::pttl(ctx, &key).await?;
        counters.push(Counter {
            supplier: supplier.to_owned(),
            session_id: session.to_owned(),
            application,
            service,
            consumed_upokt: consumed.unwrap_or(0),
            ttl_ms,
        });
    }
    counters.sort_by(|a, b| (&a.supplier, &a.session_id).cmp(&(&b.supplier, &b.session_id)));
    Ok(MeterReport {
        total_consumed_upokt: counters.iter().map(|c| c.consumed_upokt).sum(),
        counters,
    })
}

impl Report for MeterReport {
    fn text(&self) -> String {
        let mut out = String::new();
        for c in &self.counters {
            let _ = writeln!(
                out,
                "{}  session {}  {} uPOKT consumed  app {}  {}  ttl {}",
                c.supplier,
                c.session_id,
                c.consumed_upokt,
                c.application.as_deref().unwrap_or("?"),
                c.service.as_deref().unwrap_or("?"),
                ttl_text(c.ttl_ms)
            );
        }
        let _ = writeln!(
            out,
            "{} counter(s), {} uPOKT consumed in all",
            self.counters.len(),
            self.total_consumed_upokt
        );
        out
    }
}
