// The official OpenAI Node SDK as an application uses it, against a chatmock server.
//
// Usage: node openai_client.mjs BASE_URL SCENARIO
//
// BASE_URL is the OpenAI base URL (http://127.0.0.1:8001/v1 for the demo). Prints one
// JSON line with what the SDK gave the application. Errors the scenario expects are
// reported in that line; anything else throws, so the process fails with a stack trace.

import OpenAI, { APIError } from 'openai';
import { VERSION } from 'openai/version';

const MODEL = 'gpt-4o-mini';
const MESSAGES = [{ role: 'user', content: "What's the weather in Paris?" }];
const TOOLS = ['get_weather', 'get_time'].map((name) => ({
  type: 'function',
  function: { name, description: `${name} for a place`, parameters: { type: 'object', properties: {} } },
}));

const [baseURL, scenario] = process.argv.slice(2);

function client(maxRetries = 0) {
  return new OpenAI({ baseURL, apiKey: 'test-key', maxRetries, timeout: 20_000 });
}

/** Streams a completion and joins the deltas, as a chat UI does. */
async function chatStream() {
  const stream = await client().chat.completions.create({
    model: MODEL,
    messages: MESSAGES,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let chunks = 0;
  let usage = null;
  const finishReasons = [];
  const ids = new Set();
  for await (const chunk of stream) {
    chunks += 1;
    ids.add(chunk.id);
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      text += choice.delta.content ?? '';
      if (choice.finish_reason != null) finishReasons.push(choice.finish_reason);
    }
  }
  return { text, finish_reasons: finishReasons, chunks, ids: [...ids], usage };
}

/** Assembles streamed tool calls with the SDK's stream helper. */
async function chatToolCalls() {
  const stream = client().chat.completions.stream({ model: MODEL, messages: MESSAGES, tools: TOOLS });
  const doneEvents = [];
  stream.on('tool_calls.function.arguments.done', (event) =>
    doneEvents.push({ index: event.index, name: event.name, arguments: event.arguments }),
  );
  const final = await stream.finalChatCompletion();
  const choice = final.choices[0];
  return {
    calls: (choice.message.tool_calls ?? []).map((call) => ({
      id: call.id,
      name: call.function.name,
      arguments: call.function.arguments,
    })),
    done_events: doneEvents,
    finish_reason: choice.finish_reason,
    content: choice.message.content,
  };
}

/** The stream breaks off with an error event: the SDK must throw, not end quietly. */
async function midStreamError() {
  let text = '';
  try {
    const stream = await client().chat.completions.create({ model: MODEL, messages: MESSAGES, stream: true });
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
  } catch (error) {
    if (!(error instanceof APIError)) throw error;
    return { text, error: error.constructor.name, message: error.message, body: error.error ?? null };
  }
  return { text, error: null };
}

const SCENARIOS = { chat_stream: chatStream, chat_tool_calls: chatToolCalls, mid_stream_error: midStreamError };

if (!(scenario in SCENARIOS)) {
  console.error(`usage: node openai_client.mjs BASE_URL {${Object.keys(SCENARIOS).join('|')}}`);
  process.exit(2);
}
const result = await SCENARIOS[scenario]();
result.sdk = { name: 'openai-node', version: VERSION };
console.log(JSON.stringify(result));
