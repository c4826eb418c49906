"""Client authentication with a tokens file (status 2 Unauthorized)."""

import pytest
from stream_manager import MessageStreamDefinition, StrategyOnFull, StreamManagerClient
from stream_manager.exceptions import ConnectFailedException

from rawclient import OP_LIST, OP_LIST_RESPONSE, ST_SUCCESS, ST_UNAUTHORIZED, RawClient, encode_frame


@pytest.fixture
def tokens_file(tmp_path):
    p = tmp_path / "tokens.txt"
    p.write_text("tok-a\ntok-b\n")
    return p


@pytest.fixture(params=["flags", "env"])
def auth_daemon(request, daemon_factory, tokens_file):
    if request.param == "flags":
        return daemon_factory(extra_args=["--authenticate-client", "true", "--auth-tokens-file", str(tokens_file)],
                              label="auth-flags")
    return daemon_factory(env={"STREAM_MANAGER_AUTHENTICATE_CLIENT": "true",
                               "STREAM_MANAGER_AUTH_TOKENS_FILE": str(tokens_file)}, label="auth-env")


def sdk_client(port, monkeypatch, token):
    if token is None:
        monkeypatch.delenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", raising=False)
    else:
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", token)
    return StreamManagerClient(port=port, connect_timeout=5, request_timeout=10)


@pytest.mark.parametrize("token", ["tok-a", "tok-b"])
def test_valid_token_works(auth_daemon, monkeypatch, token):
    c = sdk_client(auth_daemon.port, monkeypatch, token)
    auth_daemon.clients.append(c)
    c.create_message_stream(MessageStreamDefinition(name="authed", strategy_on_full=StrategyOnFull.RejectNewData))
    assert c.append_message("authed", b"hello") == 0
    assert c.read_messages("authed")[0].payload == b"hello"


@pytest.mark.parametrize("token", [None, "tok-c", "tok-", "", "TOK-A", "tok-a\ntok-b"],
                         ids=["none", "wrong", "prefix", "empty", "case", "both"])
def test_bad_token_connect_fails(auth_daemon, monkeypatch, token):
    with pytest.raises(ConnectFailedException):
        sdk_client(auth_daemon.port, monkeypatch, token)
    # and the server is fine for a good client afterwards
    good = sdk_client(auth_daemon.port, monkeypatch, "tok-b")
    auth_daemon.clients.append(good)
    assert good.list_streams() == []


@pytest.mark.parametrize("token", [None, "nope"], ids=["none", "wrong"])
def test_raw_unauthorized_status_and_no_service(auth_daemon, token):
    r = auth_daemon.raw(handshake=False)
    resp = r.handshake(auth_token=token, request_id="auth-req")
    assert resp["status"] == ST_UNAUTHORIZED
    assert resp["requestId"] == "auth-req"
    # an unauthenticated connection must never be served
    try:
        _, body = r.request(OP_LIST, {}, timeout=2)
    except Exception:  # noqa: BLE001 - closed or ignored: both fine
        return
    assert body.get("status") != ST_SUCCESS, "request served on an unauthenticated connection: %r" % (body,)


def test_raw_requests_before_connect_not_served(auth_daemon):
    """Skipping the Connect frame must not bypass authentication."""
    r = RawClient(auth_daemon.port)
    auth_daemon.raws.append(r)
    r.send_raw(b"\x01" + encode_frame(OP_LIST, {"requestId": "sneaky"}))
    try:
        while True:
            op, body = r.read_message(timeout=2)
            assert not (op == OP_LIST_RESPONSE and body.get("status") == ST_SUCCESS), "ListStreams served without Connect"
    except Exception:  # noqa: BLE001 - closed or nothing more: fine
        pass


def test_raw_authorized_token(auth_daemon):
    r = auth_daemon.raw(handshake=False)
    resp = r.handshake(auth_token="tok-a")
    assert resp["status"] == ST_SUCCESS
    assert r.list_streams()["status"] == ST_SUCCESS


def test_auth_off_by_default_ignores_tokens(daemon, monkeypatch):
    c = sdk_client(daemon.port, monkeypatch, "anything-at-all")
    daemon.clients.append(c)
    assert c.list_streams() == []
    r = daemon.raw(handshake=False)
    assert r.handshake(auth_token=None)["status"] == ST_SUCCESS


def test_auth_explicitly_false(daemon_factory, monkeypatch, tokens_file):
    d = daemon_factory(extra_args=["--authenticate-client", "false", "--auth-tokens-file", str(tokens_file)])
    c = sdk_client(d.port, monkeypatch, None)
    d.clients.append(c)
    assert c.list_streams() == []
