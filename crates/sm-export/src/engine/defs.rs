//! Which exports exist: matching them to the stream definitions, adding, updating and
//! removing them.

use super::*;

/// A destination's largest (and default) batch size: `sm-model`'s table.
fn max_batch(kind: ExportKind) -> i64 {
    defaults::max_batch_size(kind).unwrap_or(1)
}

fn wanted(def: &MessageStreamDefinition) -> Vec<Wanted> {
    let Some(e) = &def.export_definition else {
        return Vec::new();
    };
    let spec = |batch: Option<i64>,
                max: i64,
                interval: Option<i64>,
                priority: Option<i64>,
                disabled: Option<bool>| ExportSpec {
        batch_size: batch.unwrap_or(max).clamp(1, max) as u64,
        interval_ms: interval.map(|v| v.max(0) as u64),
        priority: priority.map_or(UNSET_PRIORITY, |p| p.clamp(1, 10) as u8),
        disabled: disabled.unwrap_or(false),
    };
    let start = |s: Option<i64>| s.unwrap_or(0).max(0) as u64;
    let mut out = Vec::new();
    for c in &e.http {
        out.push(Wanted {
            kind: ExportKind::Http,
            identifier: c.identifier.clone(),
            spec: spec(
                c.batch_size,
                max_batch(ExportKind::Http),
                c.batch_interval_millis,
                c.priority,
                c.disabled,
            ),
            start: start(c.start_sequence_number),
            config: serde_json::to_value(c).unwrap_or_default(),
        });
    }
    for c in &e.kinesis {
        out.push(Wanted {
            kind: ExportKind::Kinesis,
            identifier: c.identifier.clone(),
            spec: spec(
                c.batch_size,
                max_batch(ExportKind::Kinesis),
                c.batch_interval_millis,
                c.priority,
                c.disabled,
            ),
            start: start(c.start_sequence_number),
            config: serde_json::to_value(c).unwrap_or_default(),
        });
    }
    for c in &e.iot_analytics {
        out.push(Wanted {
            kind: ExportKind::IoTAnalytics,
            identifier: c.identifier.clone(),
            spec: spec(
                c.batch_size,
                max_batch(ExportKind::IoTAnalytics),
                c.batch_interval_millis,
                c.priority,
                c.disabled,
            ),
            start: start(c.start_sequence_number),
            config: serde_json::to_value(c).unwrap_or_default(),
        });
    }
    for c in &e.iot_sitewise {
        out.push(Wanted {
            kind: ExportKind::IoTSiteWise,
            identifier: c.identifier.clone(),
            spec: spec(
                c.batch_size,
                max_batch(ExportKind::IoTSiteWise),
                c.batch_interval_millis,
                c.priority,
                c.disabled,
            ),
            start: start(c.start_sequence_number),
            config: serde_json::to_value(c).unwrap_or_default(),
        });
    }
    for c in &e.s3_task_executor {
        out.push(Wanted {
            kind: ExportKind::S3TaskExecutor,
            identifier: c.identifier.clone(),
            // One task at a time, in order.
            spec: spec(Some(1), 1, None, c.priority, c.disabled),
            start: 0,
            config: serde_json::to_value(c).unwrap_or_default(),
        });
    }
    out
}

impl Engine {
    /// The streams and their definitions changed (or this is the first call): every stream
    /// that has exports, with its definition and the saved progress of its exports. Exports
    /// are matched by stream and identifier; new ones start from their saved progress (if its
    /// `startSequenceNumber` is still the configured one) or from `startSequenceNumber`;
    /// missing ones are removed (their checkpoints deleted, an S3 task in progress canceled).
    pub fn handle_streams(&mut self, now: i64, defs: Vec<StreamDef>) {
        self.tick(now);
        let mut seen = Vec::new();
        let mut streams = BTreeMap::new();
        for def in defs {
            let persist = def.definition.persistence != Some(Persistence::Memory);
            for w in wanted(&def.definition) {
                let name = (def.id, w.identifier.clone());
                seen.push(name.clone());
                match self.by_name.get(&name).copied() {
                    Some(k) if self.exports.get(&k).is_some_and(|e| e.kind == w.kind) => {
                        self.update(k, w)
                    }
                    Some(k) => {
                        self.remove(k);
                        self.add(
                            def.id,
                            &def.definition.name,
                            persist,
                            w,
                            def.saved.get(&name.1),
                        );
                    }
                    None => self.add(
                        def.id,
                        &def.definition.name,
                        persist,
                        w,
                        def.saved.get(&name.1),
                    ),
                }
            }
            let bounds = self.streams.get(&def.id).and_then(|s| s.bounds);
            streams.insert(
                def.id,
                StreamInfo {
                    definition: Arc::new(def.definition),
                    bounds,
                },
            );
        }
        let gone: Vec<ExportKey> = self
            .by_name
            .iter()
            .filter(|(n, _)| !seen.contains(n))
            .map(|(_, k)| *k)
            .collect();
        // Exports no longer wanted (an S3 task in progress is canceled, its status message
        // naming the export's stream).
        for k in gone {
            self.remove(k);
        }
        self.streams = streams;
    }

    pub(super) fn add(
        &mut self,
        stream: StreamId,
        stream_name: &str,
        persist: bool,
        w: Wanted,
        saved: Option<&ExportProgress>,
    ) {
        let mut progress = saved
            .filter(|p| p.start_sequence_number == w.start && p.identifier == w.identifier)
            .cloned()
            .unwrap_or_else(|| ExportProgress::new(&w.identifier, w.start));
        progress.moved_at = self.now;
        let key = self.next_key;
        self.next_key += 1;
        self.sched.upsert(key, w.spec, progress.cursor);
        debug!(stream = stream_name, export = %w.identifier, cursor = progress.cursor, "export started");
        self.actions.push_back(Action::SaveProgress {
            stream,
            kind: w.kind,
            progress: progress.clone(),
            persist: Persist::No,
            delivered_bytes: 0,
        });
        self.by_name.insert((stream, w.identifier.clone()), key);
        self.exports.insert(
            key,
            Export {
                stream,
                stream_name: stream_name.to_owned(),
                kind: w.kind,
                identifier: w.identifier,
                spec: w.spec,
                start: w.start,
                config: w.config,
                progress,
                backoff: Backoff::new(self.config.retry.base_ms, self.config.retry.cap_ms),
                persist,
                durable_at: 0,
                generation: 0,
                reading: None,
                batch: None,
                rebuild: false,
            },
        );
    }

    pub(super) fn update(&mut self, key: ExportKey, w: Wanted) {
        let now = self.now;
        let Some(e) = self.exports.get_mut(&key) else {
            return;
        };
        e.spec = w.spec;
        self.sched.upsert(key, w.spec, e.progress.cursor);
        if w.config != e.config {
            // The next attempt (of this batch too: a fixed URL must unblock it) uses it.
            e.config = w.config;
            e.rebuild = e.batch.is_some();
        }
        if w.start != e.start {
            info!(stream = %e.stream_name, export = %e.identifier, from = w.start, "startSequenceNumber changed; the export restarts there");
            e.start = w.start;
            e.generation += 1;
            e.batch = None;
            e.reading = None;
            e.rebuild = false;
            e.progress.cursor = w.start;
            e.progress.start_sequence_number = w.start;
            e.progress.moved_at = now;
            // Forget the send in flight (its results are ignored now) and start over there.
            self.sched.remove(key);
            self.sched.upsert(key, w.spec, w.start);
            self.save(key, true, 0);
        }
    }

    pub(super) fn remove(&mut self, key: ExportKey) {
        self.sched.remove(key);
        let Some(mut e) = self.exports.remove(&key) else {
            return;
        };
        self.by_name.remove(&(e.stream, e.identifier.clone()));
        info!(stream = %e.stream_name, export = %e.identifier, "export removed");
        if let Some(mut b) = e.batch.take() {
            let mut cx = Cx {
                now: self.now,
                rng: &mut self.rng,
                config: &self.config,
                stream: &e.stream_name,
                stream_id: e.stream,
                export: &e.identifier,
                ttl_ms: None,
                out: &mut self.actions,
                events: &mut self.events,
                pacers: &mut self.pacers,
            };
            let abort = b.sender.cancel(&mut cx, &b.records);
            self.events.clear();
            if let Some(call) = abort {
                // Nobody waits for the abort's answer.
                let op = OpId(self.next_op);
                self.next_op += 1;
                self.actions.push_back(Action::Call { op, call });
            }
        }
        self.actions.push_back(Action::RemoveProgress {
            stream: e.stream,
            export: e.identifier,
        });
    }
}
