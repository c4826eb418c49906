//! The status page's glue: samples the counters into `sm-metrics`' history every
//! [`status::SAMPLE_EVERY_MS`], and turns a metrics [`Snapshot`] into the page's JSON. The
//! page, the history and the JSON are `sm_metrics::status`'s.

use std::sync::Arc;
use std::time::Duration;

use sm_metrics::{status, Snapshot};

use super::Endpoint;

/// The daemon-wide sample of a snapshot.
fn sample(s: &Snapshot) -> status::Sample {
    status::Sample {
        at_ms: s.now_ms,
        appends: s.daemon.appends,
        exported: s.exports.iter().map(|e| e.messages).sum(),
    }
}

/// The body of `GET /status.json`.
pub(super) fn json(s: &Snapshot, history: &status::History) -> String {
    let status = status::Status {
        now_ms: s.now_ms,
        health: sm_metrics::health(s).body["status"]
            .as_str()
            .unwrap_or("ok")
            .to_owned(),
        streams: s
            .streams
            .iter()
            .map(|m| status::StreamRow {
                name: m.name.clone(),
                stored_bytes: m.stored_bytes,
                oldest: m.oldest,
                newest: m.newest,
                appends: m.appends,
            })
            .collect(),
        exports: s
            .exports
            .iter()
            .map(|e| status::ExportRow {
                stream: e.stream.clone(),
                identifier: e.identifier.clone(),
                kind: e.kind.to_owned(),
                disabled: e.disabled,
                lag_messages: e.lag_messages,
                lag_seconds: e
                    .oldest_pending_ingest_ms
                    .map_or(0.0, |t| (s.now_ms - t).max(0) as f64 / 1000.0),
                messages: e.messages,
                skipped: e.skipped,
                errors: e.errors,
                last_error: e.last_error.clone(),
            })
            .collect(),
    };
    let mut body = status::status_json(&status, history).to_string();
    body.push('\n');
    body
}

/// Samples the counters into the endpoint's history until aborted.
pub(super) async fn sampler(endpoint: Arc<Endpoint>) {
    let every = Duration::from_millis(status::SAMPLE_EVERY_MS as u64);
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let e = endpoint.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let s = e.snapshot();
            e.history
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(sample(&s));
        })
        .await;
    }
}
