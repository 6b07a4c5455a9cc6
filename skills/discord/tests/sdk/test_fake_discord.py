"""The stand-in Discord speaks the real one: discord.py, pointed at it, logs in over REST, connects
to the gateway (Hello, Identify with intents, heartbeats and their ACKs), reads READY and the
guild, receives a MESSAGE_CREATE with its mentions, sends through REST, resumes after opcode 7,
waits out a 429 and an empty rate-limit bucket on its own, and refuses a wrong token.

Run: FAKE_DISCORD_BIN=path/to/fake-discord python -m pytest tests/sdk/test_fake_discord.py
"""

import asyncio
import json
import os
import subprocess
import time
import urllib.request

import discord
import discord.gateway
import discord.http
import pytest
import yarl

TOKEN = "MTEwMDAw.sdk-test.token"
BOT_ID = 1100000000000000001
GUILD = 1200000000000000001
GENERAL = 1300000000000000001


@pytest.fixture
def fake():
    binary = os.environ.get("FAKE_DISCORD_BIN", "target/debug/fake-discord")
    proc = subprocess.Popen([binary, TOKEN], stdout=subprocess.PIPE, text=True)
    api = proc.stdout.readline().strip().removeprefix("listening on ")
    gateway = proc.stdout.readline().strip().removeprefix("gateway on ")
    assert api.startswith("http://") and gateway.startswith("ws://"), (api, gateway)
    # discord.py's two fixed addresses: the REST root and the first gateway.
    discord.http.Route.BASE = api
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway + "/")
    yield api
    proc.kill()
    proc.wait()


def control(api, op, body=None):
    root = api.removesuffix("/api/v10")
    data = json.dumps(body if body is not None else {}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{root}/control/{op}", data=data)) as r:
        return json.load(r)


class Bot(discord.Client):
    def __init__(self, content=True):
        intents = discord.Intents.default()
        intents.message_content = content
        super().__init__(intents=intents)
        self.ready = asyncio.Event()
        self.resumed_once = asyncio.Event()
        self.messages = asyncio.Queue()

    async def on_ready(self):
        self.ready.set()

    async def on_resumed(self):
        self.resumed_once.set()

    async def on_message(self, message):
        await self.messages.put(message)


async def started(bot):
    task = asyncio.create_task(bot.start(TOKEN))
    done, _ = await asyncio.wait([task, asyncio.create_task(bot.ready.wait())], timeout=30,
                                 return_when=asyncio.FIRST_COMPLETED)
    assert bot.ready.is_set(), [t.exception() for t in done if t is task]
    return task


def test_gateway_identify_receive_and_rest_send(fake):
    control(fake, "heartbeat", {"ms": 500})

    async def go():
        bot = Bot()
        task = await started(bot)
        try:
            assert bot.user.id == BOT_ID and bot.user.bot
            guild = bot.get_guild(GUILD)
            assert guild is not None and guild.name == "Claw Test"
            channel = guild.get_channel(GENERAL)
            assert channel.name == "general"

            control(fake, "message", {"channel_id": str(GENERAL), "author_id": "1500000000000000042",
                                      "username": "ann", "content": f"<@{BOT_ID}> hello"})
            message = await asyncio.wait_for(bot.messages.get(), 10)
            assert message.content == f"<@{BOT_ID}> hello" and message.channel.id == GENERAL
            assert message.guild.id == GUILD and bot.user in message.mentions
            assert message.author.name == "ann" and message.author.global_name == "ann (global)"

            sent = await channel.send("hi back", allowed_mentions=discord.AllowedMentions.none())
            assert sent.content == "hi back" and sent.author.id == BOT_ID
            echo = await asyncio.wait_for(bot.messages.get(), 10)
            assert echo.author == bot.user and echo.content == "hi back"
            await channel.typing().__aenter__()

            await asyncio.sleep(1.2)
            counts = control(fake, "counts")
            assert counts["identifies"] == 1 and counts["heartbeats"] >= 1
            assert bot.latency < 1
        finally:
            await bot.close()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())
    calls = control(fake, "calls")
    post = next(c for c in calls if c["path"].endswith("/messages"))
    assert post["method"] == "POST" and post["body"]["content"] == "hi back"
    assert post["body"]["allowed_mentions"]["parse"] == []


def test_reconnect_resumes_and_rate_limits_are_waited_out(fake):
    async def go():
        bot = Bot()
        task = await started(bot)
        try:
            control(fake, "reconnect")
            await asyncio.wait_for(bot.resumed_once.wait(), 20)
            assert control(fake, "counts")["resumes"] == 1

            channel = bot.get_channel(GENERAL)
            control(fake, "fail", {"suffix": "/messages", "retry_after": 0.5})
            start = time.time()
            await channel.send("after a 429")
            assert time.time() - start >= 0.5
            # Six more: the bucket holds five per 5 s; the library waits instead of being refused.
            for i in range(6):
                await channel.send(f"piece {i}")
        finally:
            await bot.close()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())
    posts = [c for c in control(fake, "calls") if c["path"].endswith("/messages")]
    assert len(posts) == 8, "one injected 429, then every send accepted the first time"


def test_without_the_message_content_intent_content_is_blank(fake):
    async def go():
        bot = Bot(content=False)
        task = await started(bot)
        try:
            control(fake, "message", {"channel_id": str(GENERAL), "author_id": "1500000000000000042",
                                      "username": "ann", "content": "private words"})
            message = await asyncio.wait_for(bot.messages.get(), 10)
            assert message.content == ""
        finally:
            await bot.close()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())


def test_a_wrong_token_is_refused(fake):
    async def go():
        client = discord.Client(intents=discord.Intents.default())
        with pytest.raises(discord.LoginFailure):
            await client.login("wrong-token")
        await client.close()

    asyncio.run(go())
