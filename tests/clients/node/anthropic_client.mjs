// The official Anthropic TypeScript SDK as an application uses it, against a chatmock
// server.
//
// Usage: node anthropic_client.mjs BASE_URL SCENARIO
//
// BASE_URL is the server's root (http://127.0.0.1:8001 for the demo): the SDK adds
// /v1/messages itself. Prints one JSON line with what the SDK gave the application.
// Errors the scenario expects are reported in that line; anything else throws, so the
// process fails with a stack trace.

import Anthropic, { APIError } from '@anthropic-ai/sdk';
import { VERSION } from '@anthropic-ai/sdk/version';

const MODEL = 'claude-haiku-4-5';
const MESSAGES = [{ role: 'user', content: "What's the weather in Paris?" }];
const TOOLS = [
  {
    name: 'get_weather',
    description: 'The weather in a city',
    input_schema: { type: 'object', properties: { city: { type: 'string' } } },
  },
];

const [baseURL, scenario] = process.argv.slice(2);

function client(maxRetries = 0) {
  return new Anthropic({ baseURL, apiKey: 'test-key', maxRetries, timeout: 20_000 });
}

function blockJson(block) {
  if (block.type === 'text') return { type: 'text', text: block.text };
  if (block.type === 'tool_use') return { type: 'tool_use', id: block.id, name: block.name, input: block.input };
  if (block.type === 'thinking') return { type: 'thinking', thinking: block.thinking, signature: block.signature };
  if (block.type === 'redacted_thinking') return { type: 'redacted_thinking', data: block.data };
  return { type: block.type };
}

/** Streams a message with text and a tool call, then takes the SDK's final message. */
async function messagesStream() {
  const stream = client().messages.stream({ model: MODEL, max_tokens: 1024, messages: MESSAGES, tools: TOOLS });
  let text = '';
  stream.on('text', (delta) => {
    text += delta;
  });
  const final = await stream.finalMessage();
  return {
    text,
    id: final.id,
    model: final.model,
    role: final.role,
    content: final.content.map(blockJson),
    stop_reason: final.stop_reason,
    usage: { input_tokens: final.usage.input_tokens, output_tokens: final.usage.output_tokens },
  };
}

/** Streams a message with extended thinking: the SDK's thinking and signature events,
 * then its final message. */
async function thinkingStream() {
  const stream = client().messages.stream({
    model: MODEL,
    max_tokens: 2048,
    thinking: { type: 'enabled', budget_tokens: 1024 },
    messages: MESSAGES,
    tools: TOOLS,
  });
  let thinking = '';
  let text = '';
  const signatures = [];
  stream.on('thinking', (delta) => {
    thinking += delta;
  });
  stream.on('signature', (signature) => {
    signatures.push(signature);
  });
  stream.on('text', (delta) => {
    text += delta;
  });
  const final = await stream.finalMessage();
  const usage = final.usage;
  return {
    thinking,
    signatures,
    text,
    content: final.content.map(blockJson),
    stop_reason: final.stop_reason,
    usage: {
      input_tokens: usage.input_tokens,
      output_tokens: usage.output_tokens,
      cache_read_input_tokens: usage.cache_read_input_tokens,
      cache_creation_input_tokens: usage.cache_creation_input_tokens,
    },
  };
}

/** The stream breaks off with an error event: the SDK must throw its API error. */
async function midStreamError() {
  let text = '';
  const stream = client().messages.stream({ model: MODEL, max_tokens: 1024, messages: MESSAGES });
  stream.on('text', (delta) => {
    text += delta;
  });
  try {
    await stream.finalMessage();
  } catch (error) {
    if (!(error instanceof APIError)) throw error;
    return {
      text,
      error: error.constructor.name,
      type: error.type ?? null,
      status: error.status ?? null,
      body: error.error ?? null,
    };
  }
  return { text, error: null };
}

const SCENARIOS = { messages_stream: messagesStream, thinking_stream: thinkingStream, mid_stream_error: midStreamError };

if (!(scenario in SCENARIOS)) {
  console.error(`usage: node anthropic_client.mjs BASE_URL {${Object.keys(SCENARIOS).join('|')}}`);
  process.exit(2);
}
const result = await SCENARIOS[scenario]();
result.sdk = { name: 'anthropic-node', version: VERSION };
console.log(JSON.stringify(result));
