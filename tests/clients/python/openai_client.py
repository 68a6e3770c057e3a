"""The official OpenAI Python SDK as an application uses it, against a chatmock server.

Usage: python3 openai_client.py BASE_URL SCENARIO

BASE_URL is the OpenAI base URL (http://127.0.0.1:8001/v1 for the demo). Prints one JSON
line with what the SDK gave the application. Errors the scenario expects are reported in
that line; anything else raises, so the process fails with a traceback on stderr.
"""

import json
import sys
import time

import openai

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "What's the weather in Paris?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name} for a place",
            "parameters": {"type": "object", "properties": {}, "additionalProperties": True},
        },
    }
    for name in ("get_weather", "get_time")
]


def client(max_retries=0):
    # A short timeout: the Rust test kills the process anyway, but a hang should fail here.
    return openai.OpenAI(
        base_url=sys.argv[1], api_key="test-key", max_retries=max_retries, timeout=20.0
    )


def chat_stream():
    """Streams a completion and joins the deltas, as a chat UI does."""
    stream = client().chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish_reasons, ids, models, usage, chunks = "", [], set(), set(), None, 0
    for chunk in stream:
        chunks += 1
        ids.add(chunk.id)
        models.add(chunk.model)
        if chunk.usage is not None:
            usage = chunk.usage.model_dump()
        for choice in chunk.choices:
            if choice.delta.content:
                text += choice.delta.content
            if choice.finish_reason is not None:
                finish_reasons.append(choice.finish_reason)
    return {
        "text": text,
        "finish_reasons": finish_reasons,
        "chunks": chunks,
        "ids": sorted(ids),
        "models": sorted(models),
        "usage": usage,
    }


def chat_tool_calls():
    """Assembles streamed tool calls by index, by hand and with the SDK's stream helper."""
    stream = client().chat.completions.create(
        model=MODEL, messages=MESSAGES, tools=TOOLS, stream=True
    )
    calls, finish_reasons = {}, []
    for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
                if delta.id:
                    call["id"] = delta.id
                if delta.function and delta.function.name:
                    call["name"] += delta.function.name
                if delta.function and delta.function.arguments:
                    call["arguments"] += delta.function.arguments
            if choice.finish_reason is not None:
                finish_reasons.append(choice.finish_reason)
    manual = [calls[index] for index in sorted(calls)]

    # The helper accumulates the chunks itself and emits typed events.
    with client().chat.completions.stream(model=MODEL, messages=MESSAGES, tools=TOOLS) as stream:
        done_events = [
            {"index": event.index, "name": event.name, "arguments": event.arguments}
            for event in stream
            if event.type == "tool_calls.function.arguments.done"
        ]
        final = stream.get_final_completion()
    choice = final.choices[0]
    helper = [
        {"id": call.id, "name": call.function.name, "arguments": call.function.arguments}
        for call in choice.message.tool_calls or []
    ]
    return {
        "manual": manual,
        "finish_reasons": finish_reasons,
        "helper": helper,
        "helper_done_events": done_events,
        "helper_finish_reason": choice.finish_reason,
        "helper_content": choice.message.content,
    }


def responses_stream():
    """Streams a Responses API response, raw events and with the SDK's stream helper."""
    tools = [
        {"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": False}
    ]
    events = client().responses.create(
        model=MODEL, input="What's the weather in Paris?", tools=tools, stream=True
    )
    types, text, arguments_done, completed = [], "", [], None
    for event in events:
        types.append(event.type)
        if event.type == "response.output_text.delta":
            text += event.delta
        elif event.type == "response.function_call_arguments.done":
            arguments_done.append(event.arguments)
        elif event.type == "response.completed":
            completed = event.response

    with client().responses.stream(
        model=MODEL, input="What's the weather in Paris?", tools=tools
    ) as stream:
        helper_text = "".join(
            event.delta for event in stream if event.type == "response.output_text.delta"
        )
        final = stream.get_final_response()
    return {
        "types": types,
        "text": text,
        "arguments_done": arguments_done,
        "completed_status": completed.status if completed else None,
        "completed_output_text": completed.output_text if completed else None,
        "helper_text": helper_text,
        "final_status": final.status,
        "final_output_text": final.output_text,
        "final_function_calls": [
            {"call_id": item.call_id, "name": item.name, "arguments": item.arguments}
            for item in final.output
            if item.type == "function_call"
        ],
        "final_output_types": [item.type for item in final.output],
    }


def responses_reasoning():
    """Streams a response that reasons, asking for the encrypted reasoning: the raw
    reasoning summary events, then the stream helper's final response."""
    events = client().responses.create(
        model="o4-mini",
        input="What's the weather in Paris?",
        reasoning={"effort": "low", "summary": "auto"},
        include=["reasoning.encrypted_content"],
        stream=True,
    )
    types, summary, summary_done = [], "", []
    for event in events:
        types.append(event.type)
        if event.type == "response.reasoning_summary_text.delta":
            summary += event.delta
        elif event.type == "response.reasoning_summary_text.done":
            summary_done.append(event.text)

    with client().responses.stream(
        model="o4-mini",
        input="What's the weather in Paris?",
        reasoning={"effort": "low", "summary": "auto"},
        include=["reasoning.encrypted_content"],
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    reasoning = [item for item in final.output if item.type == "reasoning"]
    usage = final.usage
    return {
        "types": types,
        "summary": summary,
        "summary_done": summary_done,
        "final_output_types": [item.type for item in final.output],
        "final_reasoning": [
            {
                "id": item.id,
                "summary": [part.text for part in item.summary],
                "encrypted_content": item.encrypted_content,
            }
            for item in reasoning
        ],
        "final_output_text": final.output_text,
        "usage": {
            "input_tokens": usage.input_tokens,
            "cached_tokens": usage.input_tokens_details.cached_tokens,
            "output_tokens": usage.output_tokens,
            "reasoning_tokens": usage.output_tokens_details.reasoning_tokens,
            "total_tokens": usage.total_tokens,
        },
    }


def embeddings():
    """Embeds two texts as the SDK does by default (it asks for base64 and decodes it),
    then as floats."""
    texts = ["The cat sat on the mat.", "Quarterly revenue grew."]
    default = client().embeddings.create(model="text-embedding-3-small", input=texts)
    floats = client().embeddings.create(
        model="text-embedding-3-small", input=texts, encoding_format="float", dimensions=32
    )
    return {
        "default": [list(item.embedding) for item in default.data],
        "floats": [list(item.embedding) for item in floats.data],
        "model": default.model,
        "prompt_tokens": default.usage.prompt_tokens,
    }


def models():
    """Lists the models and retrieves one, and one that does not exist."""
    ids = [model.id for model in client().models.list()]
    one = client().models.retrieve(ids[0])
    try:
        client().models.retrieve("no-such-model")
        missing = None
    except openai.NotFoundError as error:
        missing = {"status_code": error.status_code, "code": error.code}
    return {"ids": ids, "retrieved": one.id, "missing": missing}


def chat_refusal():
    """A streamed refusal, read through the SDK's stream helper as an application would."""
    with client().chat.completions.stream(model=MODEL, messages=MESSAGES) as stream:
        deltas = "".join(event.delta for event in stream if event.type == "refusal.delta")
        final = stream.get_final_completion()
    choice = final.choices[0]
    return {
        "deltas": deltas,
        "refusal": choice.message.refusal,
        "content": choice.message.content,
        "finish_reason": choice.finish_reason,
    }


def responses_error():
    """A Responses stream that fails mid-way: the application sees what the SDK yields."""
    types, text, error_event, failed = [], "", None, None
    for event in client().responses.create(model=MODEL, input="Hello", stream=True):
        types.append(event.type)
        if event.type == "response.output_text.delta":
            text += event.delta
        elif event.type == "error":
            error_event = {"code": event.code, "message": event.message}
        elif event.type == "response.failed":
            failed = {
                "status": event.response.status,
                "error": event.response.error.model_dump() if event.response.error else None,
            }
    return {"types": types, "text": text, "error_event": error_event, "failed": failed}


def retry_rate_limit():
    """One streamed completion; the SDK's own retry logic must get past a 429."""
    started = time.monotonic()
    stream = client(max_retries=2).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    return {"text": text, "seconds": time.monotonic() - started}


def mid_stream_error():
    """The stream breaks off with an error event: the SDK must raise, not end quietly."""
    text = ""
    try:
        for chunk in client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
    except openai.APIError as error:
        return {
            "text": text,
            "error": type(error).__name__,
            "message": error.message,
            "body": error.body,
        }
    return {"text": text, "error": None}


def disconnect():
    """The connection is cut mid-body: the SDK must raise its connection error."""
    text = ""
    try:
        for chunk in client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
    except openai.APIError as error:
        return {
            "text": text,
            "error": type(error).__name__,
            "cause": type(error.__cause__).__name__ if error.__cause__ else None,
        }
    return {"text": text, "error": None}


RATE_LIMIT_HEADERS = [
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
    "retry-after",
    "retry-after-ms",
]


def rate_limit_headers(headers):
    return {name: headers.get(name) for name in RATE_LIMIT_HEADERS}


def rate_limit_quota():
    """A limit of 3 requests a window: three calls, a fourth refused without retrying,
    then one the SDK's own retry logic gets through, waiting as the 429 says."""
    calls = []
    for _ in range(3):
        raw = client().chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
        completion = raw.parse()
        calls.append({
            "text": completion.choices[0].message.content,
            "headers": rate_limit_headers(raw.headers),
        })
    try:
        client().chat.completions.create(model=MODEL, messages=MESSAGES)
        refused = None
    except openai.RateLimitError as error:
        refused = {
            "status_code": error.status_code,
            "code": error.code,
            "message": error.message,
            "headers": rate_limit_headers(error.response.headers),
        }
    started = time.monotonic()
    raw = client(max_retries=2).chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES
    )
    retried = {
        "text": raw.parse().choices[0].message.content,
        "retries_taken": raw.retries_taken,
        "seconds": time.monotonic() - started,
        "headers": rate_limit_headers(raw.headers),
    }
    return {"calls": calls, "refused": refused, "retried": retried}


def agent_loop():
    """An agent loop: the model calls get_weather, the application runs it and sends the
    result back, the model answers; then one request more than the test planned for."""
    messages = list(MESSAGES)
    stream = client().chat.completions.create(
        model=MODEL, messages=messages, tools=TOOLS, stream=True
    )
    calls = {}
    for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
                call["id"] = delta.id or call["id"]
                if delta.function:
                    call["name"] += delta.function.name or ""
                    call["arguments"] += delta.function.arguments or ""
    call = calls[0]
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
            ],
        }
    )
    # The tool: the weather in the city the model asked for.
    city = json.loads(call["arguments"])["city"]
    messages.append({"role": "tool", "tool_call_id": call["id"], "content": f"{city}: 18°C"})
    answer = ""
    for chunk in client().chat.completions.create(
        model=MODEL, messages=messages, tools=TOOLS, stream=True
    ):
        if chunk.choices:
            answer += chunk.choices[0].delta.content or ""
    messages.append({"role": "assistant", "content": answer})
    messages.append({"role": "user", "content": "And tomorrow?"})
    try:
        client().chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
        third = None
    except openai.APIStatusError as error:
        third = {"status": error.status_code, "message": error.body["message"]}
    return {"call": call, "answer": answer, "third": third}


def agent_loop_until_answer():
    """An agent loop as applications write it: stream each turn, run every tool the model
    calls and send the results back, until the model answers in text."""
    messages = list(MESSAGES)
    calls_made = []
    for _ in range(5):
        calls = {}
        text = ""
        for chunk in client().chat.completions.create(
            model=MODEL, messages=messages, tools=TOOLS, stream=True
        ):
            for choice in chunk.choices:
                text += choice.delta.content or ""
                for delta in choice.delta.tool_calls or []:
                    call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
                    call["id"] = delta.id or call["id"]
                    if delta.function:
                        call["name"] += delta.function.name or ""
                        call["arguments"] += delta.function.arguments or ""
        if not calls:
            return {"calls": calls_made, "answer": text}
        ordered = [calls[index] for index in sorted(calls)]
        calls_made.extend(ordered)
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["name"], "arguments": call["arguments"]},
                    }
                    for call in ordered
                ],
            }
        )
        for call in ordered:
            city = json.loads(call["arguments"])["city"]
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": f"{city}: 18°C"})
    raise SystemExit("the loop did not end")


SCENARIOS = {
    "agent_loop": agent_loop,
    "agent_loop_until_answer": agent_loop_until_answer,
    "rate_limit_quota": rate_limit_quota,
    "chat_stream": chat_stream,
    "chat_tool_calls": chat_tool_calls,
    "chat_refusal": chat_refusal,
    "responses_stream": responses_stream,
    "responses_reasoning": responses_reasoning,
    "embeddings": embeddings,
    "models": models,
    "responses_error": responses_error,
    "retry_rate_limit": retry_rate_limit,
    "mid_stream_error": mid_stream_error,
    "disconnect": disconnect,
}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in SCENARIOS:
        sys.exit(f"usage: {sys.argv[0]} BASE_URL {{{'|'.join(SCENARIOS)}}}")
    result = SCENARIOS[sys.argv[2]]()
    result["sdk"] = {"name": "openai-python", "version": openai.__version__}
    print(json.dumps(result), flush=True)
