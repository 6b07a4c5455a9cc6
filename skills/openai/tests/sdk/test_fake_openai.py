"""The stand-in Chat Completions API speaks the real one: the official `openai` package streams a
tool-call turn through it (ids, arguments in pieces, finish reasons, usage in the last chunk),
reads a whole completion, retries a 429 after its retry-after, and maps 401, 404 and 500 to its
own error classes.

Run: FAKE_OPENAI_BIN=path/to/fake-openai python -m pytest tests/sdk/test_fake_openai.py
"""

import json
import os
import subprocess
import tempfile
import time

import openai
import pytest

KEY = "sk-test-openai"
BASH = {
    "type": "function",
    "function": {
        "name": "bash",
        "description": "Run a shell command",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
    },
}


@pytest.fixture
def fake():
    """Starts fake-openai with a script; yields a client factory and the process."""
    procs = []

    def start(script, max_retries=0):
        path = os.path.join(tempfile.mkdtemp(), "script.json")
        with open(path, "w") as f:
            json.dump(script, f)
        binary = os.environ.get("FAKE_OPENAI_BIN", "target/debug/fake-openai")
        proc = subprocess.Popen([binary, path, KEY], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on "), line
        url = line.removeprefix("listening on ")
        return openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=max_retries), url

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def test_streams_text_and_tool_calls_in_pieces_with_usage_last(fake):
    client, _ = fake([{"text": "Let me look.", "tool": [
        {"name": "bash", "input": {"command": "echo hi"}},
        {"name": "bash", "input": {"command": "ls /"}},
    ]}])
    stream = client.chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "look around"}],
        tools=[BASH],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, calls, finish, usage, pieces = "", {}, None, None, 0
    for chunk in stream:
        if chunk.usage is not None:
            assert chunk.choices == []
            usage = chunk.usage
            continue
        choice = chunk.choices[0]
        text += choice.delta.content or ""
        for call in choice.delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
            entry["id"] = call.id or entry["id"]
            if call.function.name:
                entry["name"] += call.function.name
            if call.function.arguments:
                entry["arguments"] += call.function.arguments
                pieces += 1
        finish = choice.finish_reason or finish
    assert text == "Let me look."
    assert finish == "tool_calls"
    assert [c["name"] for c in calls.values()] == ["bash", "bash"]
    assert json.loads(calls[0]["arguments"]) == {"command": "echo hi"}
    assert json.loads(calls[1]["arguments"]) == {"command": "ls /"}
    assert calls[0]["id"] and calls[0]["id"] != calls[1]["id"]
    assert pieces >= 4, "arguments arrive in more than one piece each"
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_the_sdk_stream_helper_assembles_the_tool_call(fake):
    client, _ = fake([{"tool": {"name": "bash", "input": {"command": "echo hi"}}}])
    with client.chat.completions.stream(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}], tools=[BASH]
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert final.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "bash" and json.loads(call.function.arguments) == {"command": "echo hi"}


def test_a_whole_completion_and_a_tool_result_turn(fake):
    client, _ = fake([{"tool": {"name": "bash", "input": {"command": "date"}}}, {"text": "It is late."}])
    first = client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "time?"}], tools=[BASH]
    )
    message = first.choices[0].message
    assert first.object == "chat.completion" and first.choices[0].finish_reason == "tool_calls"
    assert message.content is None and message.tool_calls[0].type == "function"
    second = client.chat.completions.create(
        model="gpt-test",
        messages=[
            {"role": "user", "content": "time?"},
            message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "23:59"},
        ],
        tools=[BASH],
    )
    assert second.choices[0].message.content == "It is late."
    assert second.choices[0].finish_reason == "stop"
    assert second.usage.prompt_tokens > first.usage.prompt_tokens
    assert [m.id for m in client.models.list()] == ["gpt-fake"]


def test_a_429_is_retried_after_its_retry_after(fake):
    client, _ = fake([{"status": 429, "retry_after": "1"}, {"text": "after the wait"}], max_retries=2)
    start = time.monotonic()
    reply = client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "after the wait"
    assert time.monotonic() - start >= 0.9, "the SDK waited what retry-after asked"


def test_errors_map_to_the_sdk_classes(fake):
    client, url = fake([{"status": 429, "retry_after": "0"}, {"status": 500}])
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi"}])
    assert e.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi"}])
    wrong = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        wrong.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi"}])
    assert e.value.code == "invalid_api_key"
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="gpt-test", prompt="legacy")
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-test", messages="not a list")
