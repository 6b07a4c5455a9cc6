"""The stand-in Ollama API speaks the real one: the official `ollama` package streams a chat with
a tool call through it (NDJSON, the last line `done` with token counts), reads a whole answer,
lists models, and raises its ResponseError with the status for an unknown model, a busy server
(429 / 503) and a crashed runner.

Run: FAKE_OLLAMA_BIN=path/to/fake-ollama python -m pytest tests/sdk/test_fake_ollama.py
"""

import json
import os
import subprocess
import tempfile

import ollama
import pytest

MODEL = "qwen3"


def bash(command: str) -> str:
    """Run a shell command

    Args:
      command: the command line
    """
    return command


@pytest.fixture
def fake():
    procs = []

    def start(script):
        path = os.path.join(tempfile.mkdtemp(), "script.json")
        with open(path, "w") as f:
            json.dump(script, f)
        binary = os.environ.get("FAKE_OLLAMA_BIN", "target/debug/fake-ollama")
        proc = subprocess.Popen([binary, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on "), line
        return ollama.Client(host=line.removeprefix("listening on "))

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def test_streams_text_then_a_tool_call_then_done_with_counts(fake):
    client = fake([{"text": "Let me look.", "tool": {"name": "bash", "input": {"command": "echo hi"}}}])
    parts = list(client.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}], tools=[bash], stream=True))
    assert len(parts) >= 3 and all(p.model == MODEL for p in parts)
    assert "".join(p.message.content or "" for p in parts) == "Let me look."
    calls = [c for p in parts for c in (p.message.tool_calls or [])]
    assert len(calls) == 1
    assert calls[0].function.name == "bash" and calls[0].function.arguments == {"command": "echo hi"}
    last = parts[-1]
    assert last.done and not any(p.done for p in parts[:-1])
    assert last.done_reason == "stop"
    assert last.prompt_eval_count > 0 and last.eval_count > 0


def test_a_whole_answer_after_a_tool_result(fake):
    client = fake([{"tool": {"name": "bash", "input": {"command": "date"}}}, {"text": "It is late."}])
    first = client.chat(model=MODEL, messages=[{"role": "user", "content": "time?"}], tools=[bash], stream=False)
    assert first.done and first.message.tool_calls[0].function.name == "bash"
    second = client.chat(
        model=MODEL,
        messages=[
            {"role": "user", "content": "time?"},
            first.message,
            {"role": "tool", "content": "23:59", "tool_name": "bash"},
        ],
        tools=[bash],
        stream=False,
    )
    assert second.message.content == "It is late." and second.message.tool_calls is None
    assert second.prompt_eval_count > first.prompt_eval_count


def test_lists_the_pulled_model(fake):
    client = fake([])
    assert [m.model for m in client.list().models] == [f"{MODEL}:latest"]


def test_errors_are_response_errors_with_their_status(fake):
    client = fake([{"status": 429, "retry_after": "2"}, {"status": 503}, {"status": 500}])
    with pytest.raises(ollama.ResponseError) as e:
        client.chat(model="llama-not-pulled", messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 404 and "try pulling it first" in e.value.error
    for status in (429, 503):
        with pytest.raises(ollama.ResponseError) as e:
            client.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        assert e.value.status_code == status and "server busy" in e.value.error
    with pytest.raises(ollama.ResponseError) as e:
        list(client.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True))
    assert e.value.status_code == 500
