// aimock, as a Node test would start it (its programmatic API), for the peers harness:
// node aimock.mjs TOKENS DELAY_MS. Every request gets the harness's tokens, one per chunk
// (chunkSize is their length), DELAY_MS apart. It listens on a free loopback port and
// prints `listening URL`.
import { LLMock } from "@copilotkit/aimock";

const [tokens, delay] = process.argv.slice(2).map(Number);
const content = Array.from({ length: tokens }, (_, i) => `tk${String(i).padStart(5, "0")} `).join("");
const mock = new LLMock({ port: 0, host: "127.0.0.1", latency: delay, chunkSize: 8 });
mock.addFixture({ match: {}, response: { content }, latency: delay, chunkSize: 8 });
await mock.start();
console.log(`listening ${mock.url}`);
