"""The stand-in Slack speaks the real one: the official slack_sdk, pointed at it, calls the Web API
(auth.test, chat.postMessage in a thread, conversations.info, users.info) with its token, reads
`ok: false` errors and 429s with Retry-After as SlackApiError (and its retry handler waits and
succeeds), and its Socket Mode client opens a connection through apps.connections.open, receives
Events API and slash command envelopes, acknowledges them by envelope_id (with a response
payload), and reconnects when the socket says `disconnect`.

Run: FAKE_SLACK_BIN=path/to/fake-slack python -m pytest tests/sdk/test_fake_slack.py
"""

import json
import os
import queue
import subprocess
import time
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

BOT = "xoxb-1-sdk-test"
APP = "xapp-1-A0CLAW-sdk-test"


@pytest.fixture
def fake():
    binary = os.environ.get("FAKE_SLACK_BIN", "target/debug/fake-slack")
    proc = subprocess.Popen([binary, BOT, APP], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    assert line.startswith("listening on "), line
    yield line.removeprefix("listening on ")
    proc.kill()
    proc.wait()


def control(api, op, body=None):
    root = api.removesuffix("/api")
    data = json.dumps(body if body is not None else {}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{root}/control/{op}", data=data)) as r:
        return json.load(r)


def web(api, token=BOT):
    return WebClient(token=token, base_url=api + "/")


def wait_until(probe, seconds=10):
    end = time.time() + seconds
    while time.time() < end:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_web_api_calls_and_threads(fake):
    client = web(fake)
    me = client.auth_test()
    assert me["ok"] and me["user_id"] == "UCLAWBOT" and me["bot_id"] == "BCLAWBOT"
    top = client.chat_postMessage(channel="C0001", text="hello 👋")
    assert top["channel"] == "C0001" and top["message"]["text"] == "hello 👋"
    reply = client.chat_postMessage(channel="C0001", text="in the thread", thread_ts=top["ts"])
    assert reply["message"]["thread_ts"] == top["ts"]
    assert client.conversations_info(channel="C0001")["channel"]["id"] == "C0001"
    assert client.users_info(user="U42")["user"]["real_name"] == "Person U42"
    posted = control(fake, "posted")["posted"]
    assert posted[1] == {"channel": "C0001", "text": "in the thread", "thread_ts": top["ts"]}
    assert all(c["authorized"] for c in control(fake, "calls")["calls"])


def test_errors_and_rate_limits(fake):
    with pytest.raises(SlackApiError) as e:
        web(fake, token="xoxb-wrong").auth_test()
    assert e.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as e:
        web(fake).chat_postMessage(channel="C0001", text="")
    assert e.value.response["error"] == "no_text"

    control(fake, "fail", {"method": "chat.postMessage", "error": "ratelimited", "retry_after": 2})
    with pytest.raises(SlackApiError) as e:
        web(fake).chat_postMessage(channel="C0001", text="x")
    assert e.value.response.status_code == 429
    assert e.value.response.headers["retry-after"] in ("2", ["2"])

    # The SDK's own rate-limit handler reads Retry-After, waits and succeeds.
    control(fake, "fail", {"method": "chat.postMessage", "error": "ratelimited", "retry_after": 1})
    patient = web(fake)
    patient.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    start = time.time()
    assert patient.chat_postMessage(channel="C0001", text="after the wait")["ok"]
    assert time.time() - start >= 1


def test_socket_mode_envelopes_acks_and_refresh(fake):
    received = queue.Queue()
    client = SocketModeClient(app_token=APP, web_client=web(fake), auto_reconnect_enabled=True)

    def listener(c: SocketModeClient, req: SocketModeRequest):
        received.put(req)
        payload = {"text": "This chat is slack:C0001"} if req.type == "slash_commands" else None
        c.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id, payload=payload))

    client.socket_mode_request_listeners.append(listener)
    client.connect()
    try:
        control(fake, "message", {"channel": "C0001", "user": "U42", "text": "<@UCLAWBOT> hi"})
        req = received.get(timeout=10)
        assert req.type == "events_api"
        event = req.payload["event"]
        assert event["type"] == "message" and event["text"] == "<@UCLAWBOT> hi" and event["channel_type"] == "channel"

        control(fake, "slash", {"command": "/chatid", "channel": "C0001", "user": "U42"})
        req = received.get(timeout=10)
        assert req.type == "slash_commands" and req.payload["command"] == "/chatid"
        acks = wait_until(lambda: [a for a in control(fake, "acks")["acks"] if "payload" in a])
        assert acks[0] == {"envelope_id": req.envelope_id, "payload": {"text": "This chat is slack:C0001"}}

        # Slack rotates connections: the client opens a new one and keeps receiving.
        control(fake, "refresh")
        wait_until(lambda: control(fake, "acks")["connections"] >= 2, seconds=20)
        control(fake, "message", {"channel": "D0002", "user": "U43", "text": "after the refresh"})
        req = received.get(timeout=20)
        assert req.payload["event"]["text"] == "after the refresh" and req.payload["event"]["channel_type"] == "im"
        opens = [c for c in control(fake, "calls")["calls"] if c["method"] == "apps.connections.open"]
        assert len(opens) >= 2 and all(c["authorized"] for c in opens)
    finally:
        client.close()


def test_a_bot_token_cannot_open_a_socket(fake):
    with pytest.raises(SlackApiError) as e:
        web(fake).apps_connections_open(app_token=BOT)
    assert e.value.response["error"] == "not_allowed_token_type"
