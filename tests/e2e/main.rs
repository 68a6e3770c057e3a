//! End-to-end tests: every test starts a real server on a loopback port and talks to it
//! over real sockets with a real client (reqwest, async-openai, a raw TCP client, the
//! official OpenAI and Anthropic SDKs for Python and Node, or the demo example as a child
//! process).

mod agent_loops;
mod anthropic;
mod async_openai_client;
mod bad_input;
mod browser;
mod builder_panics;
mod chat_stream;
mod cli;
mod demo;
mod embeddings;
mod faults;
mod fixtures;
mod gemini;
mod golden;
mod hostile_input;
mod lifecycle;
mod load;
mod mocks;
mod models;
mod newcomer;
mod ollama;
mod plain_tests;
mod process;
mod properties;
mod raw_stream;
mod reasoning;
mod reconnect;
mod record_replay;
mod recording;
mod reliability;
mod responses;
mod sdk_clients;
mod support;
mod tools;
mod traffic;
mod virtual_time;
