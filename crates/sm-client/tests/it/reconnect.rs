//! After the server restarts, the next call reconnects.

use std::time::Duration;

use sm_client::{Error, Persistence};

use crate::daemon::{free_port, Daemon};
use crate::ops::{read, stream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_restart() {
    let port = free_port();
    let mut d = Daemon::start_on(port, &[]);
    assert_eq!(d.port, port);
    let c = d.client().await;
    let mut def = stream("durable");
    def.persistence = Some(Persistence::File);
    c.create_message_stream(&def).await.unwrap();
    assert_eq!(c.append_message("durable", b"before").await.unwrap(), 0);

    // A long poll in flight when the server dies fails with a connection error.
    let poll = tokio::spawn({
        let c = c.clone();
        async move { c.read_messages("durable", read(1, 1, 1, 15_000)).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    d.kill();
    let e = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .expect("the pending read fails promptly")
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, Error::Connection { .. }), "{e:?}");
    assert!(c.session().is_none());

    // While it is down, calls fail to connect.
    let e = c.list_streams().await.unwrap_err();
    assert!(matches!(e, Error::Connection { .. }), "{e:?}");

    // Restarted on the same port and store: the next call reconnects.
    d.launch(port, &[]);
    assert_eq!(c.append_message("durable", b"after").await.unwrap(), 1);
    assert!(c.session().is_some());
    let all = c.read_messages("durable", read(0, 2, 2, 0)).await.unwrap();
    assert_eq!(all[0].payload, b"before");
    assert_eq!(all[1].payload, b"after");
}
