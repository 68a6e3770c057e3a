"""The official Anthropic Python SDK as an application uses it, against a chatmock server.

Usage: python3 anthropic_client.py BASE_URL SCENARIO

BASE_URL is the server's root (http://127.0.0.1:8001 for the demo): the SDK adds
/v1/messages itself. Prints one JSON line with what the SDK gave the application. Errors
the scenario expects are reported in that line; anything else raises, so the process
fails with a traceback on stderr.
"""

import json
import sys
import time

import anthropic

MODEL = "claude-haiku-4-5"
MESSAGES = [{"role": "user", "content": "What's the weather in Paris?"}]
TOOLS = [
    {
        "name": "get_weather",
        "description": "The weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


def client(max_retries=0):
    return anthropic.Anthropic(
        base_url=sys.argv[1], api_key="test-key", max_retries=max_retries, timeout=20.0
    )


def block_json(block):
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    if block.type == "thinking":
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if block.type == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.data}
    return {"type": block.type}


def messages_stream():
    """Streams a message with text and a tool call, then takes the SDK's final message."""
    with client().messages.stream(
        model=MODEL, max_tokens=1024, messages=MESSAGES, tools=TOOLS
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    return {
        "text": text,
        "id": final.id,
        "model": final.model,
        "role": final.role,
        "content": [block_json(block) for block in final.content],
        "stop_reason": final.stop_reason,
        "usage": {
            "input_tokens": final.usage.input_tokens,
            "output_tokens": final.usage.output_tokens,
        },
    }


def thinking_stream():
    """Streams a message with extended thinking: the SDK's thinking and signature events,
    then its final message, whose blocks go back to the API unchanged in the next turn."""
    thinking, signatures, text = "", [], ""
    with client().messages.stream(
        model=MODEL,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=MESSAGES,
        tools=TOOLS,
    ) as stream:
        for event in stream:
            if event.type == "thinking":
                thinking += event.thinking
            elif event.type == "signature":
                signatures.append(event.signature)
            elif event.type == "text":
                text += event.text
        final = stream.get_final_message()
    usage = final.usage
    return {
        "thinking": thinking,
        "signatures": signatures,
        "text": text,
        "content": [block_json(block) for block in final.content],
        "stop_reason": final.stop_reason,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read_input_tokens": usage.cache_read_input_tokens,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        },
    }


def models():
    """Lists the models two at a time (the SDK follows the pages itself) and retrieves one."""
    ids = [model.id for model in client().models.list(limit=2)]
    one = client().models.retrieve("claude-opus-4-1")
    return {"ids": ids, "retrieved": {"id": one.id, "display_name": one.display_name}}


def mid_stream_error():
    """The stream breaks off with an error event: the SDK must raise its API error."""
    text = ""
    try:
        with client().messages.stream(model=MODEL, max_tokens=1024, messages=MESSAGES) as stream:
            for chunk in stream.text_stream:
                text += chunk
    except anthropic.APIStatusError as error:
        return {
            "text": text,
            "error": type(error).__name__,
            "status_code": error.status_code,
            "body": error.body,
        }
    return {"text": text, "error": None}


def retry_overloaded():
    """A 529 with retry-after: the SDK's own retry logic must wait and try again."""
    started = time.monotonic()
    with client(max_retries=2).messages.stream(
        model=MODEL, max_tokens=1024, messages=MESSAGES
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    return {
        "text": text,
        "stop_reason": final.stop_reason,
        "seconds": time.monotonic() - started,
    }


def rate_limit_headers(headers):
    return {
        name: value
        for name, value in headers.items()
        if name.startswith("anthropic-ratelimit-") or name.startswith("retry-after")
    }


def rate_limit_quota():
    """A limit of 2 requests a window: two calls read the SDK's view of the headers, a
    third is refused with RateLimitError, and the SDK's retry logic gets a fourth through."""
    calls = []
    for _ in range(2):
        raw = client().messages.with_raw_response.create(
            model=MODEL, max_tokens=1024, messages=MESSAGES
        )
        message = raw.parse()
        calls.append({
            "text": "".join(block.text for block in message.content if block.type == "text"),
            "headers": rate_limit_headers(raw.headers),
        })
    try:
        client().messages.create(model=MODEL, max_tokens=1024, messages=MESSAGES)
        refused = None
    except anthropic.RateLimitError as error:
        refused = {
            "status_code": error.status_code,
            "body": error.body,
            "headers": rate_limit_headers(error.response.headers),
        }
    started = time.monotonic()
    raw = client(max_retries=2).messages.with_raw_response.create(
        model=MODEL, max_tokens=1024, messages=MESSAGES
    )
    retried = {
        "text": "".join(block.text for block in raw.parse().content if block.type == "text"),
        "retries_taken": raw.retries_taken,
        "seconds": time.monotonic() - started,
    }
    return {"calls": calls, "refused": refused, "retried": retried}


def agent_loop():
    """An agent loop: Claude calls get_weather, the application runs it and sends a
    tool_result block back, Claude answers; then one request more than the test planned."""
    messages = list(MESSAGES)
    with client().messages.stream(
        model=MODEL, max_tokens=1024, messages=messages, tools=TOOLS
    ) as stream:
        first = stream.get_final_message()
    tool_use = next(block for block in first.content if block.type == "tool_use")
    messages.append({"role": "assistant", "content": [block_json(b) for b in first.content]})
    messages.append(
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": tool_use.id,
                    "content": f"{tool_use.input['city']}: 18°C",
                }
            ],
        }
    )
    with client().messages.stream(
        model=MODEL, max_tokens=1024, messages=messages, tools=TOOLS
    ) as stream:
        answer = "".join(stream.text_stream)
    messages.append({"role": "assistant", "content": answer})
    messages.append({"role": "user", "content": "And tomorrow?"})
    try:
        client().messages.create(model=MODEL, max_tokens=1024, messages=messages, tools=TOOLS)
        third = None
    except anthropic.APIStatusError as error:
        third = {"status": error.status_code, "message": error.body["error"]["message"]}
    return {
        "tool_use": block_json(tool_use),
        "stop_reason": first.stop_reason,
        "answer": answer,
        "third": third,
    }


SCENARIOS = {
    "agent_loop": agent_loop,
    "rate_limit_quota": rate_limit_quota,
    "thinking_stream": thinking_stream,
    "models": models,
    "messages_stream": messages_stream,
    "mid_stream_error": mid_stream_error,
    "retry_overloaded": retry_overloaded,
}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in SCENARIOS:
        sys.exit(f"usage: {sys.argv[0]} BASE_URL {{{'|'.join(SCENARIOS)}}}")
    result = SCENARIOS[sys.argv[2]]()
    result["sdk"] = {"name": "anthropic-python", "version": anthropic.__version__}
    print(json.dumps(result), flush=True)
