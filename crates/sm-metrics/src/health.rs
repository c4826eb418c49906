//! The health verdict (`GET /health`): 503 when the store cannot be written, degraded when an
//! export is stalled, with a JSON body naming what is wrong.

use serde_json::json;

use crate::{ExportMetrics, Snapshot};

/// Overall health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Store writable, no export stalled.
    Ok,
    /// Store writable, some export stalled: answered 200 (a destination being down is not
    /// something a restart of the daemon fixes).
    Degraded,
    /// Store not writable: answered 503.
    Unhealthy,
}

/// The health verdict: HTTP status, overall status and the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// 200 or 503.
    pub http_status: u16,
    /// Overall status.
    pub status: Status,
    /// The body.
    pub body: serde_json::Value,
}

/// Evaluates health: 503 when the store root is not writable; 200 otherwise, `"degraded"`
/// with every stalled export listed when some export is stalled, else `"ok"`.
pub fn health(s: &Snapshot) -> Health {
    let stalled: Vec<&ExportMetrics> = s
        .exports
        .iter()
        .filter(|e| e.stalled(s.now_ms, s.stall_after_ms))
        .collect();
    let store = &s.daemon.store;
    let status = if !store.writable {
        Status::Unhealthy
    } else if !stalled.is_empty() {
        Status::Degraded
    } else {
        Status::Ok
    };
    let body = json!({
        "status": match status {
            Status::Ok => "ok",
            Status::Degraded => "degraded",
            Status::Unhealthy => "unhealthy",
        },
        "store": {
            "writable": store.writable,
            "checkedAt": store.checked_at_ms,
            "error": store.error,
            "appendIoErrors": s.daemon.append_io_errors,
        },
        "exports": {
            "count": s.exports.len(),
            "stallThresholdSeconds": s.stall_after_ms as f64 / 1000.0,
            "stalled": stalled.iter().map(|e| json!({
                "stream": e.stream,
                "export": e.identifier,
                "kind": e.kind,
                "lagMessages": e.lag_messages,
                "lagSeconds": e.lag_seconds(s.now_ms),
                "stalledSeconds": e.stalled_for_ms(s.now_ms) as f64 / 1000.0,
                "lastError": e.last_error,
            })).collect::<Vec<_>>(),
        },
    });
    Health {
        http_status: if status == Status::Unhealthy {
            503
        } else {
            200
        },
        status,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::fixtures::{export, snapshot};
    use crate::StoreProbe;

    #[test]
    fn health_verdicts() {
        let mut s = snapshot();
        s.exports[0].moved_at_ms = 90_000;
        let h = health(&s);
        assert_eq!((h.http_status, h.status), (200, Status::Ok));
        assert_eq!(h.body["status"], "ok");
        assert_eq!(h.body["store"]["writable"], true);
        assert_eq!(h.body["exports"]["stalled"].as_array().unwrap().len(), 0);

        // Stalled export: 200, degraded, listed with its numbers.
        s.exports[0].moved_at_ms = 40_000;
        s.exports[0].last_error = Some("HTTP 500".into());
        s.exports.push(ExportMetrics {
            identifier: "fine".into(),
            ..export(0)
        });
        let h = health(&s);
        assert_eq!((h.http_status, h.status), (200, Status::Degraded));
        let stalled = h.body["exports"]["stalled"].as_array().unwrap();
        assert_eq!(stalled.len(), 1);
        assert_eq!(stalled[0]["export"], "e");
        assert_eq!(stalled[0]["stream"], "s");
        assert_eq!(stalled[0]["kind"], "http");
        assert_eq!(stalled[0]["lagMessages"], 5);
        assert_eq!(stalled[0]["stalledSeconds"], 50.0);
        assert_eq!(stalled[0]["lastError"], "HTTP 500");
        assert_eq!(h.body["exports"]["count"], 2);

        // Unwritable store: 503 whatever the exports do.
        s.daemon.store = StoreProbe {
            writable: false,
            checked_at_ms: 99_000,
            error: Some("Permission denied (os error 13)".into()),
        };
        let h = health(&s);
        assert_eq!((h.http_status, h.status), (503, Status::Unhealthy));
        assert_eq!(h.body["status"], "unhealthy");
        assert_eq!(h.body["store"]["error"], "Permission denied (os error 13)");
    }
}
