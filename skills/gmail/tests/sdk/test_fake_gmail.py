"""The stand-in Gmail API speaks the real one: google-api-python-client, built from its own
bundled discovery document for gmail v1 with the stand-in as api_endpoint, and google-auth
credentials refreshing against the stand-in's token endpoint, read the profile, list, get and
send messages in a thread, list history, refresh an expired access token after a 401, and map
429 and a refused client to their own errors.

Run: FAKE_GMAIL_BIN=path/to/fake-gmail python -m pytest tests/sdk/test_fake_gmail.py
"""

import base64
import hashlib
import urllib.error
import urllib.parse
import json
import os
import subprocess
import urllib.request
from email.message import EmailMessage

import pytest
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

CLIENT_ID = "1234-test.apps.googleusercontent.test"
CLIENT_SECRET = "GOCSPX-test-secret"


@pytest.fixture
def fake():
    binary = os.environ.get("FAKE_GMAIL_BIN", "target/debug/fake-gmail")
    proc = subprocess.Popen([binary], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    assert line.startswith("listening on "), line
    yield line.removeprefix("listening on ")
    proc.kill()
    proc.wait()


def control(url, op, body=None):
    data = json.dumps(body if body is not None else {}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{url}/control/{op}", data=data)) as r:
        return json.load(r)


def gmail(url, secret=CLIENT_SECRET):
    refresh = control(url, "grant")
    creds = Credentials(None, refresh_token=refresh, client_id=CLIENT_ID, client_secret=secret,
                        token_uri=f"{url}/token")
    return build("gmail", "v1", credentials=creds, static_discovery=True, cache_discovery=False,
                 client_options={"api_endpoint": url})


def test_profile_list_get_send_and_history(fake):
    service = gmail(fake)
    users = service.users()
    profile = users.getProfile(userId="me").execute()
    assert profile["emailAddress"] == "assistant@gmail.test"
    start = profile["historyId"]
    raw = "From: Ann <ann@example.org>\r\nSubject: Lunch\r\nMessage-ID: <a1@example.org>\r\n\r\nhi\r\n"
    delivered = control(fake, "deliver", {"raw": raw})
    listed = users.messages().list(userId="me", labelIds=["INBOX"]).execute()
    assert [m["id"] for m in listed["messages"]] == [delivered]
    got = users.messages().get(userId="me", id=delivered, format="raw").execute()
    assert base64.urlsafe_b64decode(got["raw"]).decode() == raw
    assert "INBOX" in got["labelIds"] and got["threadId"]

    history = users.history().list(userId="me", startHistoryId=start, historyTypes=["messageAdded"],
                                   labelId="INBOX").execute()
    added = [a["message"]["id"] for h in history["history"] for a in h["messagesAdded"]]
    assert added == [delivered] and int(history["historyId"]) > int(start)

    reply = EmailMessage()
    reply["To"], reply["Subject"], reply["In-Reply-To"] = "ann@example.org", "Re: Lunch", "<a1@example.org>"
    reply.set_content("see you")
    body = {"raw": base64.urlsafe_b64encode(reply.as_bytes()).decode(), "threadId": got["threadId"]}
    sent = users.messages().send(userId="me", body=body).execute()
    assert sent["threadId"] == got["threadId"] and "SENT" in sent["labelIds"]
    sent_raw = control(fake, "sent")[0]["raw"]
    assert "In-Reply-To: <a1@example.org>" in sent_raw

    with pytest.raises(HttpError) as e:
        users.history().list(userId="me", startHistoryId="1").execute()
    assert e.value.resp.status == 404


def test_an_expired_token_is_refreshed_and_errors_map_to_the_clients_own(fake):
    users = gmail(fake).users()
    users.getProfile(userId="me").execute()
    # Every access token is revoked: the client gets 401, refreshes at the token endpoint, retries.
    control(fake, "expire")
    assert users.getProfile(userId="me").execute()["emailAddress"] == "assistant@gmail.test"

    control(fake, "fail", {"path": "/profile", "status": 429})
    with pytest.raises(HttpError) as e:
        users.getProfile(userId="me").execute(num_retries=0)
    assert e.value.resp.status == 429
    assert json.loads(e.value.content)["error"]["status"] == "RESOURCE_EXHAUSTED"

    with pytest.raises(RefreshError, match="invalid_client"):
        gmail(fake, secret="wrong").users().getProfile(userId="me").execute()


def test_the_consent_redirect_and_the_pkce_code_exchange(fake):
    verifier = "v" * 64

    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect = "http://127.0.0.1:9"
    query = urllib.parse.urlencode({"client_id": CLIENT_ID, "redirect_uri": redirect, "response_type": "code",
                                    "scope": "https://www.googleapis.com/auth/gmail.modify", "state": "s1",
                                    "code_challenge": challenge, "code_challenge_method": "S256"})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None

    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.build_opener(NoRedirect).open(f"{fake}/o/oauth2/v2/auth?{query}")
    location = urllib.parse.urlparse(e.value.headers["location"])
    params = dict(urllib.parse.parse_qsl(location.query))
    assert location.netloc == "127.0.0.1:9" and params["state"] == "s1"

    def exchange(code_verifier):
        form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": params["code"],
                                       "code_verifier": code_verifier, "redirect_uri": redirect,
                                       "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}).encode()
        try:
            with urllib.request.urlopen(urllib.request.Request(f"{fake}/token", data=form)) as r:
                return json.load(r)
        except urllib.error.HTTPError as err:
            return json.load(err)

    # A wrong verifier burns the code, as Google does; a fresh consent and the right one succeed.
    assert exchange("w" * 64)["error"] == "invalid_grant"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.build_opener(NoRedirect).open(f"{fake}/o/oauth2/v2/auth?{query}")
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(e.value.headers["location"]).query))
    tokens = exchange(verifier)
    assert tokens["refresh_token"].startswith("1//") and tokens["token_type"] == "Bearer"
    creds = Credentials(tokens["access_token"], client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    service = build("gmail", "v1", credentials=creds, static_discovery=True, cache_discovery=False,
                    client_options={"api_endpoint": fake})
    assert service.users().getProfile(userId="me").execute()["historyId"]
