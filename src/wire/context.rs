//! What every response of one request shares, and the token counts formats report.

use crate::request::ReceivedRequest;
use crate::script::MessageEvent;

use super::ids::IdGenerator;
use super::WireFormat;

/// What every response of one request shares: its ids, timestamp and model.
#[derive(Debug, Clone)]
pub(crate) struct ResponseContext {
    /// The response id, the same on every chunk of a stream.
    pub(crate) id: String,
    pub(crate) request_id: String,
    pub(crate) system_fingerprint: String,
    /// Unix seconds, the same on every chunk of a stream.
    pub(crate) created: u64,
    /// Echoes the model the request asked for.
    pub(crate) model: String,
    /// A rough count of the words in the request's messages, reported as prompt tokens.
    pub(crate) prompt_tokens: u64,
    /// Random characters that make the default ids of this response's tool calls.
    tool_call_seed: String,
}

impl ResponseContext {
    pub(crate) fn for_request(
        request: &ReceivedRequest,
        format: WireFormat,
        ids: &IdGenerator,
    ) -> Self {
        let chat = request.chat();
        let model = chat
            .map(|chat| chat.model())
            .filter(|model| !model.is_empty())
            .unwrap_or("gpt-4o-mini");
        let prompt_tokens = chat.map_or(0, |chat| {
            chat.messages()
                .iter()
                .map(|message| message.content().split_whitespace().count() as u64)
                .sum()
        });
        // The order ids are drawn in is part of what makes a server's ids reproducible.
        ResponseContext {
            id: format.spec().response_id(ids),
            request_id: ids.hex("req_", 32),
            system_fingerprint: ids.hex("fp_", 10),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_secs()),
            model: model.to_owned(),
            prompt_tokens,
            tool_call_seed: ids.alphanumeric("", 22),
        }
    }

    /// The id of tool call `index`: the one the script gave it, or one in the provider's
    /// style (`prefix` and 24 characters), the same in every event of the response.
    pub(crate) fn tool_call_id(
        &self,
        prefix: &str,
        index: usize,
        scripted: Option<&str>,
    ) -> String {
        match scripted {
            Some(id) => id.to_owned(),
            None => format!("{prefix}{}{:02}", self.tool_call_seed, index % 100),
        }
    }
}

/// The completion tokens of a stream so far: one per content event, the unit every
/// format's usage counts in.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    pub(crate) completion_tokens: u64,
}

impl Usage {
    /// Counts `event` if it is content.
    pub(crate) fn count(&mut self, event: &MessageEvent<'_>) {
        if event.is_content() {
            self.completion_tokens += 1;
        }
    }
}
