//! `--authenticate-client true`: the token is accepted or the connection refused.

use sm_client::{Client, ClientConfig, Error, ResponseStatusCode};

use crate::daemon::Daemon;

#[tokio::test]
async fn token_accepted_or_refused() {
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), "tok-a\ntok-b\n").unwrap();
    let d = Daemon::start_with(&[
        "--authenticate-client",
        "true",
        "--auth-tokens-file",
        tokens.path().to_str().unwrap(),
    ]);
    let with = |token: Option<&str>| ClientConfig {
        auth_token: token.map(str::to_owned),
        ..d.config()
    };

    let c = Client::connect(with(Some("tok-b"))).await.unwrap();
    assert_eq!(c.list_streams().await.unwrap(), Vec::<String>::new());

    for token in [Some("tok-c"), None] {
        let e = Client::connect(with(token)).await.unwrap_err();
        assert!(matches!(e, Error::Unauthorized(_)), "{e:?}");
        assert_eq!(e.status(), Some(ResponseStatusCode::Unauthorized));
        assert!(e.server_message().unwrap().contains("authToken"), "{e}");
        // A lazy client reports the refusal on its first call.
        let e = Client::new(with(token)).list_streams().await.unwrap_err();
        assert!(matches!(e, Error::Unauthorized(_)), "{e:?}");
    }
}
