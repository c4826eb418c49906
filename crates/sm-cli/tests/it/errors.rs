//! Failures: exit status 1 and one line on stderr naming the server status.

use crate::daemon::{run, smctl_on, Daemon};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[test]
fn server_errors_name_the_status() {
    let d = Daemon::start(&[]);
    for args in [
        &["describe", "nope"][..],
        &["read", "nope"],
        &["tail", "nope"],
        &["append", "nope"],
    ] {
        let out = d.run(args, b"payload");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            stderr(&out),
            "smctl: stream \"nope\" does not exist (ResourceNotFound)\n",
            "{args:?}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn client_errors_exit_1() {
    let d = Daemon::start(&[]);
    // An empty message is refused before anything is sent.
    let out = d.run(&["append", "s"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "smctl: stdin is empty: a message needs at least one byte\n"
    );
    // A name the SDK refuses.
    let out = d.run(&["describe", ""], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("smctl: invalid argument: "),
        "{}",
        stderr(&out)
    );
    // A usage error.
    let out = d.run(&["read", "s", "--count", "0"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--count"), "{}", stderr(&out));
}

#[test]
fn no_daemon_is_a_connection_error() {
    // A port nobody listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run(smctl_on(port, &["streams", "list"]), b"");
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(
        e.starts_with("smctl: connection to stream manager: could not connect to 127.0.0.1:"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
}

#[test]
fn token_comes_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "good-token\n").unwrap();
    let d = Daemon::start(&[
        "--authenticate-client",
        "true",
        "--auth-tokens-file",
        tokens.to_str().unwrap(),
    ]);
    let mut c = d.smctl(&["streams", "list"]);
    c.env("AWS_CONTAINER_AUTHORIZATION_TOKEN", "good-token");
    let out = run(c, b"");
    assert!(out.status.success(), "{}", stderr(&out));

    let out = d.run(&["streams", "list"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).ends_with("(Unauthorized)\n"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn host_and_port_from_the_environment() {
    let d = Daemon::start(&[]);
    // The SDKs' variables; an empty one is no setting.
    let out = run(
        {
            let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_smctl"));
            c.args(["streams", "list"])
                .env("STREAM_MANAGER_SERVER_PORT", d.port.to_string())
                .env("STREAM_MANAGER_SERVER_HOST", "")
                .env_remove("AWS_CONTAINER_AUTHORIZATION_TOKEN");
            c
        },
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // --port wins over the variable.
    let mut c = smctl_on(d.port, &["streams", "list"]);
    c.env("STREAM_MANAGER_SERVER_PORT", "1");
    let out = run(c, b"");
    assert!(out.status.success(), "{}", stderr(&out));
}
