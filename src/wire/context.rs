//! What every response of one request shares, and the token counts formats report.

use crate::request::ReceivedRequest;
use crate::script::{MessageEvent, Script, Usage as ScriptedUsage};

use super::ids::{DrawnId, IdGenerator};
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
    tool_call_seed: DrawnId,
    /// The counts the reply's script states, which override the computed ones.
    scripted_usage: ScriptedUsage,
    /// Chat Completions sends thinking as `reasoning_content` (`Reply::reasoning_content`).
    pub(crate) reasoning_content: bool,
    /// The raw demo format sends words without the whitespace before them (`Reply::demo`).
    pub(crate) bare_words: bool,
    /// The request's `include` asks for `reasoning.encrypted_content` (Responses).
    pub(crate) encrypted_reasoning: bool,
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
            tool_call_seed: ids.draw_later(),
            scripted_usage: ScriptedUsage::default(),
            reasoning_content: false,
            bare_words: false,
            encrypted_reasoning: request.body_value()["include"].as_array().is_some_and(
                |include| {
                    include
                        .iter()
                        .any(|item| item == "reasoning.encrypted_content")
                },
            ),
        }
    }

    /// The context of a response that plays `script`: with the usage it states and the
    /// options formats read from it.
    pub(crate) fn for_script(mut self, script: &Script) -> Self {
        self.scripted_usage = script.usage.as_deref().copied().unwrap_or_default();
        self.reasoning_content = script.reasoning_content;
        self.bare_words = script.bare_words;
        self
    }

    /// The usage to report for what was counted: the script's own counts where it
    /// states them, else the computed ones.
    pub(crate) fn tokens(&self, counted: Usage) -> Tokens {
        let scripted = self.scripted_usage;
        let input = scripted.input_tokens.unwrap_or(self.prompt_tokens);
        let output = scripted.output_tokens.unwrap_or(counted.completion_tokens);
        Tokens {
            input,
            output,
            reasoning: scripted
                .reasoning_tokens
                .unwrap_or(counted.reasoning_tokens),
            cached: scripted.cached_input_tokens.unwrap_or(0),
            cache_creation: scripted.cache_creation_input_tokens.unwrap_or(0),
            total: scripted.total_tokens.unwrap_or(input + output),
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
            None => {
                let mut id = String::with_capacity(prefix.len() + 24);
                id.push_str(prefix);
                self.tool_call_seed.push_alphanumeric(&mut id, 22);
                let index = index % 100;
                id.push(char::from(b'0' + (index / 10) as u8));
                id.push(char::from(b'0' + (index % 10) as u8));
                id
            }
        }
    }
}

/// The completion tokens of a stream so far: one per content event, the unit every
/// format's usage counts in, and of those the reasoning ones.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    pub(crate) completion_tokens: u64,
    pub(crate) reasoning_tokens: u64,
}

impl Usage {
    /// Counts `event` if it is content.
    pub(crate) fn count(&mut self, event: &MessageEvent<'_>) {
        if event.is_content() {
            self.completion_tokens += 1;
        }
        if event.is_reasoning() {
            self.reasoning_tokens += 1;
        }
    }

    /// What a client receives of `script`, counted.
    pub(crate) fn of_script(script: &Script) -> Usage {
        Usage {
            completion_tokens: script.completion_tokens(),
            reasoning_tokens: script.reasoning_tokens(),
        }
    }
}

/// The usage a response reports, every count resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tokens {
    pub(crate) input: u64,
    /// Reasoning included.
    pub(crate) output: u64,
    pub(crate) reasoning: u64,
    pub(crate) cached: u64,
    pub(crate) cache_creation: u64,
    pub(crate) total: u64,
}

impl Tokens {
    /// The output tokens that are not reasoning (Gemini's `candidatesTokenCount`).
    pub(crate) fn answer(&self) -> u64 {
        self.output.saturating_sub(self.reasoning)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::request;

    #[test]
    fn default_tool_call_ids_are_the_seed_drawn_in_turn_and_the_index() {
        let body = serde_json::json!({ "model": "m", "messages": [] });
        let request = request("/v1/chat/completions", None, body);
        let ids = IdGenerator::default();
        let context =
            ResponseContext::for_request(&request, WireFormat::OpenAiChatCompletions, &ids);
        // The same draws on a second generator, the seed spelled out when it was drawn.
        let again = IdGenerator::default();
        let _ = WireFormat::OpenAiChatCompletions.spec().response_id(&again);
        let _ = (again.hex("req_", 32), again.hex("fp_", 10));
        let seed = again.alphanumeric("", 22);
        assert_eq!(
            context.tool_call_id("call_", 3, None),
            format!("call_{seed}03")
        );
        assert_eq!(
            context.tool_call_id("toolu_01", 117, None),
            format!("toolu_01{seed}17")
        );
        assert_eq!(context.tool_call_id("call_", 3, Some("call_1")), "call_1");
    }
}
