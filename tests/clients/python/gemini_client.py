"""Google's google-genai Python SDK as an application uses it, against a chatmock server.

Usage: python3 gemini_client.py BASE_URL SCENARIO

BASE_URL is the server's root: the SDK adds /v1beta/models/... itself. Prints one JSON
line with what the SDK gave the application. Errors the scenario expects are reported in
that line; anything else raises, so the process fails with a traceback on stderr.
"""

import base64
import json
import sys

from google import genai
from google.genai import errors, types

MODEL = "gemini-2.5-flash"
WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="The weather in a city",
            parameters={"type": "object", "properties": {"city": {"type": "string"}}},
        )
    ]
)


_CLIENT = []


def client():
    """One client for the whole run: the SDK closes its connections when a client is
    garbage-collected, even while one of its calls is still reading."""
    if not _CLIENT:
        _CLIENT.append(
            genai.Client(
                api_key="test-key",
                http_options=types.HttpOptions(base_url=sys.argv[1], retry_options=None),
            )
        )
    return _CLIENT[0]


def config():
    return types.GenerateContentConfig(
        tools=[WEATHER],
        thinking_config=types.ThinkingConfig(include_thoughts=True),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )


def thinking_stream():
    """Streams thought parts, text and a function call, and reads the usage."""
    thoughts, text, calls, signatures, usage = "", "", [], [], None
    for chunk in client().models.generate_content_stream(
        model=MODEL, contents="What's the weather in Paris?", config=config()
    ):
        for part in chunk.candidates[0].content.parts or []:
            if part.thought_signature:
                signatures.append(base64.b64encode(part.thought_signature).decode())
            if part.thought:
                thoughts += part.text
            elif part.function_call:
                calls.append({"name": part.function_call.name, "args": part.function_call.args})
            elif part.text:
                text += part.text
        usage = chunk.usage_metadata
    return {
        "thoughts": thoughts,
        "text": text,
        "calls": calls,
        "signatures": signatures,
        "usage": {
            "prompt": usage.prompt_token_count,
            "candidates": usage.candidates_token_count,
            "thoughts": usage.thoughts_token_count,
            "cached": usage.cached_content_token_count,
            "total": usage.total_token_count,
        },
    }


def complete():
    """One complete response with a thought part."""
    response = client().models.generate_content(
        model=MODEL, contents="What's the weather in Paris?", config=config()
    )
    parts = response.candidates[0].content.parts
    return {
        "thought_parts": [part.text for part in parts if part.thought],
        "text": response.text,
        "thoughts_token_count": response.usage_metadata.thoughts_token_count,
    }


def error():
    """An HTTP error: the SDK raises its API error with Google's status name."""
    try:
        client().models.generate_content(model=MODEL, contents="Hi")
    except errors.APIError as error:
        return {"error": type(error).__name__, "code": error.code, "status": error.status}
    return {"error": None}


def embed():
    """Embeds two texts (the SDK always calls :batchEmbedContents)."""
    result = client().models.embed_content(
        model="text-embedding-004",
        contents=["The cat sat.", "The cat sat."],
        config=types.EmbedContentConfig(output_dimensionality=16),
    )
    return {"vectors": [embedding.values for embedding in result.embeddings]}


SCENARIOS = {
    "thinking_stream": thinking_stream,
    "complete": complete,
    "error": error,
    "embed": embed,
}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in SCENARIOS:
        sys.exit(f"usage: {sys.argv[0]} BASE_URL {{{'|'.join(SCENARIOS)}}}")
    result = SCENARIOS[sys.argv[2]]()
    result["sdk"] = {"name": "google-genai", "version": genai.__version__}
    print(json.dumps(result), flush=True)
