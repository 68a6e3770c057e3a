"""The ollama Python library as an application uses it, against a chatmock server.

Usage: python3 ollama_client.py BASE_URL SCENARIO

BASE_URL is the server's root. Prints one JSON line with what the library gave the
application. Errors the scenario expects are reported in that line; anything else raises,
so the process fails with a traceback on stderr.
"""

import json
import sys
from importlib.metadata import version

import ollama

MODEL = "qwen3"
MESSAGES = [{"role": "user", "content": "What's the weather in Paris?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def client():
    return ollama.Client(host=sys.argv[1])


def thinking_stream():
    """Streams thinking, text and a tool call, and reads the final counts."""
    thinking, content, calls, last = "", "", [], None
    for chunk in client().chat(model=MODEL, messages=MESSAGES, tools=TOOLS, think=True, stream=True):
        thinking += chunk.message.thinking or ""
        content += chunk.message.content or ""
        for call in chunk.message.tool_calls or []:
            calls.append({"name": call.function.name, "arguments": dict(call.function.arguments)})
        last = chunk
    return {
        "thinking": thinking,
        "content": content,
        "calls": calls,
        "done": last.done,
        "done_reason": last.done_reason,
        "eval_count": last.eval_count,
        "prompt_eval_count": last.prompt_eval_count,
    }


def error():
    """An HTTP error: the library raises ResponseError with the status and message."""
    try:
        client().chat(model=MODEL, messages=MESSAGES)
    except ollama.ResponseError as error:
        return {"error": type(error).__name__, "status_code": error.status_code, "message": error.error}
    return {"error": None}


def embed_and_list():
    """Embeds two texts and lists the local models."""
    embedded = client().embed(model="nomic-embed-text", input=["why is the sky blue", "grass"])
    listed = client().list()
    return {
        "dimensions": [len(vector) for vector in embedded.embeddings],
        "first": list(embedded.embeddings[0][:4]),
        "models": [model.model for model in listed.models],
    }


SCENARIOS = {"thinking_stream": thinking_stream, "error": error, "embed_and_list": embed_and_list}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in SCENARIOS:
        sys.exit(f"usage: {sys.argv[0]} BASE_URL {{{'|'.join(SCENARIOS)}}}")
    result = SCENARIOS[sys.argv[2]]()
    result["sdk"] = {"name": "ollama-python", "version": version("ollama")}
    print(json.dumps(result), flush=True)
