"""The stand-in Bot API speaks the real one: python-telegram-bot, pointed at it, reads the bot's
identity, long-polls updates with offsets, sends messages and chat actions, and maps 429, 400 and
401 answers to its own RetryAfter, BadRequest and InvalidToken errors.

Run: FAKE_TELEGRAM_BIN=path/to/fake-telegram python -m pytest tests/sdk/test_fake_telegram.py
"""

import asyncio
import json
import os
import subprocess
import urllib.request

import pytest
import telegram
from telegram.error import BadRequest, InvalidToken, RetryAfter

TOKEN = "123456:TEST-token"


@pytest.fixture
def fake():
    binary = os.environ.get("FAKE_TELEGRAM_BIN", "target/debug/fake-telegram")
    proc = subprocess.Popen([binary, TOKEN], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    assert line.startswith("listening on "), line
    yield line.removeprefix("listening on ")
    proc.kill()
    proc.wait()


def control(url, op, body=None):
    data = json.dumps(body).encode() if body is not None else b"{}"
    with urllib.request.urlopen(urllib.request.Request(f"{url}/control/{op}", data=data)) as r:
        return json.load(r)["result"]


def bot_for(url, token=TOKEN):
    return telegram.Bot(token, base_url=f"{url}/bot")


def run(coro):
    return asyncio.run(coro)


def test_get_me_send_message_and_chat_action(fake):
    async def go():
        async with bot_for(fake) as bot:
            me = await bot.get_me()
            assert me.is_bot and me.username == "claw_test_bot"
            sent = await bot.send_message(chat_id=-1001, text="hello 👋")
            assert sent.text == "hello 👋" and sent.chat.id == -1001 and sent.from_user.id == me.id
            assert await bot.send_chat_action(chat_id=-1001, action="typing") is True

    run(go())
    calls = control(fake, "calls")
    send = next(c for c in calls if c["method"] == "sendMessage")
    assert send["params"]["text"] == "hello 👋"


def test_long_polling_with_offsets(fake):
    control(fake, "update", {"message": {"chat": {"id": 5, "type": "private", "first_name": "Ann"},
                                         "from": {"id": 5, "is_bot": False, "first_name": "Ann"}, "text": "hi"}})

    async def go():
        async with bot_for(fake) as bot:
            updates = await bot.get_updates(timeout=0)
            assert [u.message.text for u in updates] == ["hi"]
            assert updates[0].message.chat.first_name == "Ann"
            # Confirming by offset removes it; a long poll then waits for the next one.
            poll = asyncio.create_task(bot.get_updates(offset=updates[0].update_id + 1, timeout=5))
            await asyncio.sleep(0.3)
            assert not poll.done()
            control(fake, "update", {"message": {"chat": {"id": 5, "type": "private"},
                                                 "from": {"id": 5, "is_bot": False, "first_name": "Ann"},
                                                 "text": "again"}})
            later = await poll
            assert [u.message.text for u in later] == ["again"]
            assert later[0].update_id == updates[0].update_id + 1

    run(go())


def test_errors_map_to_the_librarys_exceptions(fake):
    async def go():
        async with bot_for(fake) as bot:
            control(fake, "fail", {"method": "sendMessage", "code": 429, "retry_after": 3})
            with pytest.raises(RetryAfter) as e:
                await bot.send_message(chat_id=1, text="x")
            assert e.value.retry_after in (3, __import__("datetime").timedelta(seconds=3))
            with pytest.raises(BadRequest, match="too long"):
                await bot.send_message(chat_id=1, text="x" * 4097)
            await bot.send_message(chat_id=1, text="x" * 4096)

        with pytest.raises(InvalidToken):
            async with bot_for(fake, token="999:wrong") as bad:
                await bad.get_me()

    run(go())
