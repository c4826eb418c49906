//! An export's batches: reading them, running the sender's attempts, settling their
//! outcomes into the export's progress, and saving it.

use super::*;

impl Engine {
    pub(super) fn dispatch(&mut self, order: SendOrder) {
        let Some(e) = self.exports.get_mut(&order.key) else {
            self.sched.handle_done(
                order.key,
                Done::Progress {
                    cursor: order.from_seq,
                    bytes: 0,
                },
                self.now,
            );
            return;
        };
        if e.batch.is_some() {
            // Sending (what is left of) a batch already attempted.
            e.progress.retries += 1;
            self.begin(order.key);
            return;
        }
        let (stream, generation) = (e.stream, e.generation);
        let op = self.new_op(order.key, generation);
        let e = self.exports.get_mut(&order.key).expect("checked above");
        e.reading = Some(op);
        self.actions.push_back(Action::Read {
            op,
            stream,
            from: order.from_seq,
            max_messages: order.max_messages,
            max_bytes: self.config.max_batch_bytes,
        });
    }

    pub(super) fn on_read(
        &mut self,
        key: ExportKey,
        r: Result<Vec<Record>, crate::classify::IoFailure>,
    ) {
        let now = self.now;
        let Some(e) = self.exports.get_mut(&key) else {
            return;
        };
        let bounds = self.streams.get(&e.stream).and_then(|s| s.bounds);
        let mut records = match r {
            Ok(records) => records,
            Err(err) => {
                warn!(stream = %e.stream_name, export = %e.identifier, "cannot read the next batch: {err}");
                e.progress.error_message = Some(ExportError::Read(err).to_string());
                e.progress.last_export_time = now;
                e.progress.errors += 1;
                let delay = e.backoff.next_delay_ms(self.rng.next_u64());
                let cursor = e.progress.cursor;
                self.save(key, false, 0);
                self.sched.handle_done(
                    key,
                    Done::Retry {
                        cursor,
                        bytes: 0,
                        delay_ms: delay,
                    },
                    now,
                );
                return;
            }
        };
        let cursor = e.progress.cursor;
        records.retain(|r| r.seq >= cursor);
        records.sort_by_key(|r| r.seq);
        records.dedup_by_key(|r| r.seq);
        // Records before the first one read (or, with none read, before the oldest held)
        // were removed by retention before they were exported.
        let first = records
            .first()
            .map(|r| r.seq)
            .or_else(|| bounds.map(|b| b.oldest.min(b.next)))
            .unwrap_or(cursor);
        let evicted = first > cursor;
        if evicted {
            let lost = first - cursor;
            warn!(stream = %e.stream_name, export = %e.identifier, from = cursor, to = first - 1, "{lost} messages were removed by retention before they were exported; skipping them");
            e.progress.skipped_messages += lost;
            e.progress.evicted_messages += lost;
            e.progress.cursor = first;
            e.progress.moved_at = now;
        }
        if evicted {
            self.save(key, false, 0);
        }
        let Some(e) = self.exports.get_mut(&key) else {
            return;
        };
        if records.is_empty() {
            let cursor = e.progress.cursor;
            self.sched
                .handle_done(key, Done::Progress { cursor, bytes: 0 }, now);
            return;
        }
        let Some(sender) = self
            .streams
            .get(&e.stream)
            .and_then(|s| Sender::new(e.kind, &e.identifier, &s.definition))
        else {
            let cursor = e.progress.cursor;
            self.sched
                .handle_done(key, Done::Progress { cursor, bytes: 0 }, now);
            return;
        };
        let state = BatchState::new(records.iter().map(|r| (r.seq, r.payload.len() as u64)));
        e.rebuild = false;
        e.batch = Some(Batch {
            records,
            state,
            sender,
            sending: false,
            waiting: None,
            sleep_until: None,
        });
        self.begin(key);
    }

    /// Starts an attempt at the batch's records still to send.
    pub(super) fn begin(&mut self, key: ExportKey) {
        let Some(e) = self.exports.get_mut(&key) else {
            return;
        };
        let def = self.streams.get(&e.stream).map(|s| s.definition.clone());
        let Some(mut b) = e.batch.take() else {
            return;
        };
        if e.rebuild {
            if let Some(s) = def
                .as_deref()
                .and_then(|d| Sender::new(e.kind, &e.identifier, d))
            {
                b.sender = s;
            }
            e.rebuild = false;
        }
        let ttl_ms = def.as_deref().and_then(|d| d.time_to_live_millis);
        let mut cx = Cx {
            now: self.now,
            rng: &mut self.rng,
            config: &self.config,
            stream: &e.stream_name,
            stream_id: e.stream,
            export: &e.identifier,
            ttl_ms,
            out: &mut self.actions,
            events: &mut self.events,
            pacers: &mut self.pacers,
        };
        b.sending = true;
        b.waiting = None;
        b.sleep_until = None;
        let to_send = b.state.to_send();
        b.sender.begin(&mut cx, &b.records, to_send);
        e.batch = Some(b);
        self.apply_events(key);
    }

    /// Advances an export's attempt until it waits for IO or time, or ends.
    pub(super) fn step(&mut self, key: ExportKey) {
        loop {
            let Some(e) = self.exports.get_mut(&key) else {
                return;
            };
            let Some(mut b) = e.batch.take() else {
                return;
            };
            let ttl_ms = self
                .streams
                .get(&e.stream)
                .and_then(|s| s.definition.time_to_live_millis);
            let (stream, generation) = (e.stream, e.generation);
            let mut cx = Cx {
                now: self.now,
                rng: &mut self.rng,
                config: &self.config,
                stream: &e.stream_name,
                stream_id: stream,
                export: &e.identifier,
                ttl_ms,
                out: &mut self.actions,
                events: &mut self.events,
                pacers: &mut self.pacers,
            };
            let step = b.sender.step(&mut cx, &b.records);
            self.exports.get_mut(&key).expect("present").batch = Some(b);
            self.apply_events(key);
            let mut b = self
                .exports
                .get_mut(&key)
                .and_then(|e| e.batch.take())
                .expect("put back above");
            match step {
                Step::Io(io) => {
                    let op = self.new_op(key, generation);
                    b.waiting = Some(op);
                    self.actions.push_back(match io {
                        Io::Call(call) => Action::Call { op, call: *call },
                        Io::Stat(path) => Action::Stat { op, path },
                        Io::ReadFile { path, offset, len } => Action::ReadFile {
                            op,
                            path,
                            offset,
                            len,
                        },
                        Io::LoadUploadState => Action::LoadUploadState {
                            op,
                            stream,
                            export: self.exports[&key].identifier.clone(),
                        },
                    });
                    self.exports.get_mut(&key).expect("present").batch = Some(b);
                    return;
                }
                Step::Sleep(t) if t > self.now => {
                    b.sleep_until = Some(t);
                    self.exports.get_mut(&key).expect("present").batch = Some(b);
                    return;
                }
                Step::Sleep(_) => {
                    b.sleep_until = None;
                    self.exports.get_mut(&key).expect("present").batch = Some(b);
                }
                Step::Done(attempt) => {
                    b.sending = false;
                    b.sleep_until = None;
                    self.exports.get_mut(&key).expect("present").batch = Some(b);
                    self.settle(key, attempt);
                    return;
                }
            }
        }
    }

    /// Folds an attempt's outcomes into the batch and the export's progress, saves it, and
    /// tells the scheduler when the export may send again.
    pub(super) fn settle(&mut self, key: ExportKey, attempt: Attempt) {
        let now = self.now;
        let Some(e) = self.exports.get_mut(&key) else {
            return;
        };
        let Some(b) = e.batch.as_mut() else {
            return;
        };
        let s = b.state.settle(attempt.outcomes, attempt.stopped);
        let done = b.state.is_done();
        let p = &mut e.progress;
        p.last_export_time = now;
        if let Some(c) = s.checkpoint.filter(|&c| c > p.cursor) {
            p.cursor = c;
            p.moved_at = now;
        }
        p.exported_messages += s.delivered;
        p.exported_bytes += s.delivered_bytes;
        p.skipped_messages += s.skipped.len() as u64;
        for (seq, err) in &s.skipped {
            warn!(stream = %e.stream_name, export = %e.identifier, seq, "message skipped (not retryable): {err}");
        }
        let progressed = s.progressed;
        let done_msg = match s.retry {
            Some(f) => {
                if progressed {
                    // The destination works: start the backoff over instead of slowing down a
                    // flow that is making progress.
                    e.backoff.reset();
                }
                let delay = retry_delay(&mut e.backoff, &self.config, &f, self.rng.next_u64());
                warn!(stream = %e.stream_name, export = %e.identifier, attempt = e.backoff.attempts(), retry_in_ms = delay, "export failed: {}", f.error);
                p.error_message = Some(f.error.to_string());
                Done::Retry {
                    cursor: p.cursor,
                    bytes: attempt.bytes,
                    delay_ms: delay,
                }
            }
            None => {
                p.error_message = s.skipped.last().map(|(_, e)| e.to_string());
                e.backoff.reset();
                Done::Progress {
                    cursor: p.cursor,
                    bytes: attempt.bytes,
                }
            }
        };
        if done {
            e.batch = None;
        }
        let caught_up = self
            .streams
            .get(&e.stream)
            .and_then(|s| s.bounds)
            .is_none_or(|b| e.progress.cursor >= b.next);
        self.save(key, caught_up, s.delivered_bytes);
        self.sched.handle_done(key, done_msg, now);
    }

    /// Applies what a sender reported to its export's progress, and publishes it when a call
    /// failed with a new error (describe shows it while the send retries).
    pub(super) fn apply_events(&mut self, key: ExportKey) {
        if self.events.is_empty() {
            return;
        }
        let events = std::mem::take(&mut self.events);
        let Some(e) = self.exports.get_mut(&key) else {
            return;
        };
        let mut changed = false;
        for event in events {
            match event {
                SendEvent::Failed(f) => {
                    e.progress.errors += 1;
                    e.progress.last_export_time = self.now;
                    let message = f.error.to_string();
                    debug!(stream = %e.stream_name, export = %e.identifier, class = ?f.class, "a call failed: {message}");
                    if e.progress.error_message.as_deref() != Some(message.as_str()) {
                        e.progress.error_message = Some(message);
                        changed = true;
                    }
                }
                SendEvent::Retried => e.progress.retries += 1,
            }
        }
        // Describe shows a new error at once; the counters follow with the attempt's end.
        if changed {
            self.actions.push_back(Action::SaveProgress {
                stream: e.stream,
                kind: e.kind,
                progress: e.progress.clone(),
                persist: Persist::No,
                delivered_bytes: 0,
            });
        }
    }

    /// Publishes an export's progress and saves its checkpoint: durably when asked or when the
    /// last durable save is older than [`DURABLE_EVERY_MS`]; in between, a crash-safe replace.
    pub(super) fn save(&mut self, key: ExportKey, durable: bool, delivered_bytes: u64) {
        let now = self.now;
        let Some(e) = self.exports.get_mut(&key) else {
            return;
        };
        let persist = if !e.persist {
            Persist::No
        } else if durable || now - e.durable_at >= DURABLE_EVERY_MS {
            e.durable_at = now;
            Persist::Durable
        } else {
            Persist::Fast
        };
        self.actions.push_back(Action::SaveProgress {
            stream: e.stream,
            kind: e.kind,
            progress: e.progress.clone(),
            persist,
            delivered_bytes,
        });
    }
}

/// The delay before an export's next send after a failed one.
fn retry_delay(backoff: &mut Backoff, config: &Config, f: &Failure, draw: u64) -> u64 {
    let delay = if f.unreachable() {
        backoff.next_delay_within_ms(draw, config.retry.link_cap_ms)
    } else {
        backoff.next_delay_ms(draw)
    };
    if f.class == Class::Blocked {
        // Needs a fix outside: try again rarely (but keep trying).
        delay.max(config.retry.slow_ms)
    } else {
        delay
    }
}
