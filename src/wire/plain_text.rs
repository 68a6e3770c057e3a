//! The original demo's format (`GET /stream`): each token is one `data: <token>` event,
//! then `data: [DONE]`. No JSON envelope: a browser page can append `event.data` as it
//! arrives. Refusals are sent as text; tool calls are left out.
//!
//! Tokens travel as bare text, so two things cannot round-trip in this format (use Chat
//! Completions when they matter): a CRLF inside a token arrives as LF, and a token that
//! is exactly `[DONE]` looks like the end marker.

use super::Encoder;
use crate::script::MessageEvent;
use crate::wire::frame::Frame;

pub(super) struct PlainTextEncoder;

impl Encoder for PlainTextEncoder {
    fn encode(&mut self, event: MessageEvent<'_>, frames: &mut Vec<Frame>) {
        match event {
            MessageEvent::Token(text) | MessageEvent::Refusal(text) => {
                frames.push(Frame::data(text));
            }
            MessageEvent::Done => frames.push(Frame::data("[DONE]")),
            MessageEvent::Error(error) => {
                frames.push(Frame::data(
                    super::openai_chat::error_body(error).to_string(),
                ));
            }
            MessageEvent::Malformed => frames.push(Frame::data("{\"unterminated")),
            // Plain text has no way to say "call this tool".
            MessageEvent::Start
            | MessageEvent::Finish(_)
            | MessageEvent::ToolCallStart { .. }
            | MessageEvent::ToolArguments { .. } => {}
        }
    }
}
