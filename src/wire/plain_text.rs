//! The original demo's format (`GET /stream`): each token is one `data: <token>` event,
//! then `data: [DONE]`. No JSON envelope: a browser page can append `event.data` as it
//! arrives. Refusals are sent as text; thinking and tool calls are left out. The demo's
//! own reply (`Reply::demo`) sends each word bare, as the original Flask demo did
//! (`data: Hello,`, `data: this`, ...): its page writes `" " + event.data`.
//!
//! Tokens travel as bare text, so two things cannot round-trip in this format (use Chat
//! Completions when they matter): a CRLF inside a token arrives as LF, and a token that
//! is exactly `[DONE]` looks like the end marker.

use axum::http::{Method, StatusCode};
use serde_json::Value;

use super::frame::Frame;
use super::{openai_chat, Encoder, Format, ResponseContext};
use crate::request::{ChatRequest, ReceivedRequest};
use crate::script::{ErrorBody, MessageEvent, Script};

/// The original demo's format.
pub(super) struct PlainText;

impl Format for PlainText {
    fn name(&self) -> &'static str {
        "plain_text"
    }

    fn paths(&self) -> &'static [&'static str] {
        &["/stream"]
    }

    fn method(&self) -> &'static Method {
        &Method::GET
    }

    /// As Chat Completions reads it: the demo's clients send that shape.
    fn read_chat(&self, json: &Value, _path: &str) -> Option<ChatRequest> {
        openai_chat::read_chat(json)
    }

    /// The demo streams whatever the request says.
    fn wants_stream(&self, _request: &ReceivedRequest) -> bool {
        true
    }

    fn encoder(&self, _request: &ReceivedRequest, context: ResponseContext) -> Box<dyn Encoder> {
        Box::new(PlainTextEncoder {
            bare_words: context.bare_words,
        })
    }

    fn complete_response(&self, script: &Script, context: &ResponseContext) -> Vec<u8> {
        openai_chat::complete_response(script, context)
    }

    fn error_body(&self, _status: StatusCode, error: &ErrorBody, _: &ResponseContext) -> Value {
        openai_chat::error_body(error)
    }
}

struct PlainTextEncoder {
    /// Send each token without the whitespace before it.
    bare_words: bool,
}

impl Encoder for PlainTextEncoder {
    fn encode(&mut self, event: MessageEvent<'_>, frames: &mut Vec<Frame>) {
        match event {
            MessageEvent::Token(text) | MessageEvent::Refusal(text) => {
                let text = if self.bare_words {
                    text.trim_start()
                } else {
                    text
                };
                frames.push(Frame::data(text));
            }
            MessageEvent::Done => frames.push(Frame::data("[DONE]")),
            MessageEvent::Error(error) => {
                frames.push(Frame::data(
                    openai_chat::error_body(&error.body).to_string(),
                ));
            }
            MessageEvent::Malformed => frames.push(Frame::data("{\"unterminated")),
            // Plain text has no way to say "call this tool".
            MessageEvent::Start
            | MessageEvent::Finish(_)
            | MessageEvent::Thinking { .. }
            | MessageEvent::RedactedThinking(_)
            | MessageEvent::ToolCallStart { .. }
            | MessageEvent::ToolArguments { .. } => {}
        }
    }
}
