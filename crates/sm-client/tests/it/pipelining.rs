//! Many callers on one client share its connection; a long poll does not block them.

use std::collections::HashMap;
use std::time::Duration;

use crate::daemon::Daemon;
use crate::ops::{read, stream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_appends_from_eight_tasks() {
    const TASKS: u32 = 8;
    const EACH: u32 = 1250;
    let d = Daemon::start();
    let c = d.client().await;
    let mut def = stream("p");
    def.max_size = Some(1 << 30);
    c.create_message_stream(&def).await.unwrap();

    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let c = c.clone();
        tasks.spawn(async move {
            let payloads: Vec<Vec<u8>> = (0..EACH)
                .map(|i| format!("task {t} message {i}").into_bytes())
                .collect();
            // Half the tasks pipeline with append_many, half await each append in turn.
            let seqs = if t % 2 == 0 {
                c.append_many("p", &payloads, 64).await.unwrap()
            } else {
                let mut seqs = vec![];
                for p in &payloads {
                    seqs.push(c.append_message("p", p).await.unwrap());
                }
                seqs
            };
            payloads.into_iter().zip(seqs).collect::<Vec<_>>()
        });
    }
    let mut by_seq = HashMap::new();
    while let Some(r) = tasks.join_next().await {
        for (payload, seq) in r.unwrap() {
            assert!(
                by_seq.insert(seq, payload).is_none(),
                "sequence number {seq} twice"
            );
        }
    }
    let total = i64::from(TASKS * EACH);
    let mut seqs: Vec<i64> = by_seq.keys().copied().collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (0..total).collect::<Vec<_>>(),
        "unique and contiguous"
    );

    // Each sequence number holds the payload it was acknowledged for.
    let mut next = 0;
    while next < total {
        for m in c.read_messages("p", read(next, 1, 5000, 0)).await.unwrap() {
            assert_eq!(m.sequence_number, next);
            assert_eq!(by_seq[&next], m.payload);
            next += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_does_not_block_other_requests() {
    let d = Daemon::start();
    let c = d.client().await;
    c.create_message_stream(&stream("wait")).await.unwrap();
    c.create_message_stream(&stream("busy")).await.unwrap();

    let poll = tokio::spawn({
        let c = c.clone();
        async move { c.read_messages("wait", read(0, 1, 1, 15_000)).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    for i in 0..200 {
        let seq = tokio::time::timeout(Duration::from_secs(2), c.append_message("busy", b"x"))
            .await
            .expect("an append is not held back by the pending read")
            .unwrap();
        assert_eq!(seq, i);
    }
    assert_eq!(c.list_streams().await.unwrap().len(), 2);
    assert!(!poll.is_finished(), "the read is still waiting");

    c.append_message("wait", b"at last").await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .expect("the append wakes the read")
        .unwrap()
        .unwrap();
    assert_eq!(got[0].payload, b"at last");
}
