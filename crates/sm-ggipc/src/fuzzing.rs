//! Fuzz bodies (the `ggipc_client` target of `fuzz/` and the corpus replay test call them).

use crate::{Client, LifecycleState, Request};

/// Feeds `data` to a client that has sent CONNECT, in two slices (to cover frames split
/// across reads), sending a request after CONNECT_ACK; checks the invariants: no panic,
/// `Ok(None)` means no whole frame is left, the pending count never grows without a send.
pub fn client_input(data: &[u8]) {
    let mut c = Client::new();
    if c.connect("fuzz-token").is_err() {
        return;
    }
    while c.poll_transmit().is_some() {}
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    for part in [&data[..cut], &data[cut..]] {
        c.handle_input(part);
        loop {
            match c.poll_event() {
                Ok(Some(crate::Event::Connected)) => {
                    let before = c.pending();
                    let id = c
                        .send(&Request::UpdateState(LifecycleState::Running))
                        .expect("connected clients can send");
                    assert!(id >= 1);
                    assert_eq!(c.pending(), before + 1);
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
            while c.poll_transmit().is_some() {}
        }
    }
}
