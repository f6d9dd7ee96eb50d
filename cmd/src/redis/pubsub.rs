//! `pubsub`: tail the namespace's channels — new blocks from the leader and
//! cache invalidations — for a bounded time or number of messages. Each
//! message is printed as it arrives (text, or one JSON object per line);
//! `subscribed to …` goes to stderr once the subscription is confirmed, so
//! nothing published after that line is missed.

use std::time::Duration;

use anyhow::Context;
use cache::entity;
use fred::prelude::*;
use serde::Serialize;

use super::{Ctx, OutputFormat, json, now_ms};

/// `pubsub` options.
#[derive(Debug, clap::Args)]
pub struct PubsubArgs {
    /// `blocks`, `cache` (every entity's invalidation channel), or a full
    /// channel name inside the namespace; repeat for several (default:
    /// blocks and cache).
    #[arg(long)]
    channel: Vec<String>,
    /// How long to listen.
    #[arg(long, default_value = "10s", value_parser = crate::parse_duration)]
    duration: Duration,
    /// Stop after this many messages.
    #[arg(long)]
    count: Option<u64>,
}

/// One message.
#[derive(Debug, Serialize)]
struct Message {
    received_unix_ms: u64,
    channel: String,
    payload: String,
    /// `block`, `invalidation` or `other`.
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    block: Option<Block>,
    /// The invalidated entity.
    #[serde(skip_serializing_if = "Option::is_none")]
    entity: Option<&'static str>,
    /// The invalidated id; `""` means every entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

#[derive(Debug, Serialize)]
struct Block {
    height: u64,
    hash: String,
    time_unix_ms: i64,
}

/// The channels to listen to.
fn channels(ctx: &Ctx, asked: &[String]) -> anyhow::Result<Vec<String>> {
    let defaults = ["blocks".to_owned(), "cache".to_owned()];
    let asked = if asked.is_empty() {
        &defaults[..]
    } else {
        asked
    };
    let prefix = format!("{}:", ctx.keys.namespace());
    let mut out = Vec::new();
    for c in asked {
        match c.as_str() {
            "blocks" => out.push(ctx.keys.blocks_channel()),
            "cache" => out.extend(
                entity::ALL
                    .iter()
                    .map(|e| ctx.keys.cache_invalidation_channel(e)),
            ),
            full if full.starts_with(&prefix) => out.push(full.to_owned()),
            other => anyhow::bail!(
                "channel {other:?}: use blocks, cache, or a channel name starting with {prefix:?}"
            ),
        }
    }
    out.dedup();
    Ok(out)
}

fn describe(ctx: &Ctx, channel: &str, payload: String) -> Message {
    let mut m = Message {
        received_unix_ms: now_ms(),
        channel: channel.to_owned(),
        kind: "other",
        block: None,
        entity: None,
        id: None,
        payload,
    };
    if channel == ctx.keys.blocks_channel() {
        m.kind = "block";
        m.block = cache::blocks::parse_payload(&m.payload).map(|b| Block {
            height: b.height,
            hash: b.hash_hex(),
            time_unix_ms: b.time.seconds * 1000 + i64::from(b.time.nanos) / 1_000_000,
        });
    } else if let Some(e) = entity::ALL
        .iter()
        .find(|e| ctx.keys.cache_invalidation_channel(e) == channel)
    {
        m.kind = "invalidation";
        m.entity = Some(e);
        m.id = Some(m.payload.clone());
    }
    m
}

fn text(m: &Message) -> String {
    match (m.kind, &m.block, m.entity) {
        ("block", Some(b), _) => format!(
            "{}  {}  block {} {}",
            m.received_unix_ms, m.channel, b.height, b.hash
        ),
        ("invalidation", _, Some(e)) if m.payload.is_empty() => {
            format!(
                "{}  {}  invalidate every {e}",
                m.received_unix_ms, m.channel
            )
        }
        ("invalidation", _, Some(e)) => format!(
            "{}  {}  invalidate {e} {}",
            m.received_unix_ms, m.channel, m.payload
        ),
        _ => format!("{}  {}  {:?}", m.received_unix_ms, m.channel, m.payload),
    }
}

/// `pubsub`.
pub(crate) async fn run(ctx: &Ctx, args: &PubsubArgs) -> anyhow::Result<()> {
    let channels = channels(ctx, &args.channel)?;
    let subscriber = store::connect_subscriber(&ctx.cfg)
        .await
        .with_context(|| format!("subscribing at {}", store::redact(&ctx.cfg.url)))?;
    let mut rx = subscriber.message_rx();
    subscriber
        .subscribe(channels.clone())
        .await
        .context("SUBSCRIBE")?;
    // `subscribe` returns once the command is queued (its confirmations
    // come out of band); a PING on the same connection is answered only
    // after the server has processed it, so from here nothing is missed.
    let _: Value = subscriber
        .ping(None)
        .await
        .context("PING after SUBSCRIBE")?;
    eprintln!(
        "subscribed to {} for {}",
        channels.join(", "),
        super::humantime(args.duration)
    );
    let deadline = tokio::time::Instant::now() + args.duration;
    let mut seen = 0u64;
    loop {
        if args.count.is_some_and(|c| seen >= c) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            _ = tokio::signal::ctrl_c() => break,
            msg = rx.recv() => match msg {
                Ok(m) => {
                    seen += 1;
                    let payload = m.value.as_string().unwrap_or_default();
                    let described = describe(ctx, &m.channel, payload);
                    match ctx.output {
                        OutputFormat::Json => println!("{}", json(&described)),
                        OutputFormat::Text => println!("{}", text(&described)),
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("warning: {n} message(s) dropped (output too slow)");
                }
                Err(_) => anyhow::bail!("the subscription closed"),
            }
        }
    }
    eprintln!("{seen} message(s)");
    let _ = subscriber.unsubscribe(channels).await;
    let _ = subscriber.quit().await;
    Ok(())
}
