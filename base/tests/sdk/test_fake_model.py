"""The fake model speaks the real Messages API: the official `anthropic` SDK streams a tool-use
turn through it, reads a plain reply, retries a 429 and reports a 401 as an authentication error.

Run: FAKE_MODEL_BIN=path/to/fake-model python -m pytest base/tests/sdk
"""

import json
import os
import subprocess
import tempfile

import anthropic
import pytest

BASH = {
    "name": "bash",
    "description": "Run a shell command",
    "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
}


@pytest.fixture
def fake_model():
    """Starts fake-model with a script; yields its URL and a list of the requests it logged."""
    procs = []

    def start(script):
        path = os.path.join(tempfile.mkdtemp(), "script.json")
        with open(path, "w") as f:
            json.dump(script, f)
        binary = os.environ.get("FAKE_MODEL_BIN", "target/debug/fake-model")
        proc = subprocess.Popen([binary, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on "), line
        return line.removeprefix("listening on "), proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def test_streams_a_tool_use_turn_then_a_text_reply(fake_model):
    url, _ = fake_model([{"tool": {"name": "bash", "input": {"command": "echo hi"}}}, {"text": "It printed hi."}])
    client = anthropic.Anthropic(base_url=url, api_key="test-key")
    with client.messages.stream(
        model="claude-test", max_tokens=256, tools=[BASH], messages=[{"role": "user", "content": "say hi"}]
    ) as stream:
        events = [event.type for event in stream]
        first = stream.get_final_message()
    assert "content_block_delta" in events
    assert first.stop_reason == "tool_use"
    call = first.content[0]
    assert call.type == "tool_use" and call.name == "bash" and call.input == {"command": "echo hi"}
    assert first.usage.output_tokens > 0

    second = client.messages.create(
        model="claude-test",
        max_tokens=256,
        tools=[BASH],
        messages=[
            {"role": "user", "content": "say hi"},
            {"role": "assistant", "content": [c.model_dump() for c in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "hi"}]},
        ],
    )
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == "It printed hi."


def test_retries_a_rate_limit_and_reports_a_bad_key(fake_model):
    url, _ = fake_model([{"status": 429, "retry_after": "0"}, {"text": "after the retry"}, {"status": 401}])
    client = anthropic.Anthropic(base_url=url, api_key="test-key", max_retries=2)
    reply = client.messages.create(model="claude-test", max_tokens=16, messages=[{"role": "user", "content": "x"}])
    assert reply.content[0].text == "after the retry"
    with pytest.raises(anthropic.AuthenticationError):
        client.messages.create(model="claude-test", max_tokens=16, messages=[{"role": "user", "content": "x"}])
