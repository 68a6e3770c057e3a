//! The token counts a reply reports, as a script states them.

/// Token counts a reply reports in place of the computed ones, for
/// [`Reply::usage`](crate::Reply::usage): each field left `None` keeps its default.
///
/// The defaults: input tokens are the words of the request's messages, output tokens
/// one per content event the client receives (text, refusal, tool-call and thinking
/// events), reasoning tokens one per thinking event, cached and cache-creation tokens
/// zero, and the total the input plus the output tokens. Output tokens include the
/// reasoning tokens, as OpenAI and Anthropic count them.
///
/// Each format puts the counts where its API does:
///
/// | | Chat Completions | Responses | Anthropic | Gemini | Ollama |
/// |---|---|---|---|---|---|
/// | input | `prompt_tokens` | `input_tokens` | `input_tokens` | `promptTokenCount` | `prompt_eval_count` |
/// | output | `completion_tokens` | `output_tokens` | `output_tokens` | `candidatesTokenCount` + `thoughtsTokenCount` | `eval_count` |
/// | reasoning | `completion_tokens_details.reasoning_tokens` | `output_tokens_details.reasoning_tokens` | (in `output_tokens`) | `thoughtsTokenCount` | (in `eval_count`) |
/// | cached input | `prompt_tokens_details.cached_tokens` | `input_tokens_details.cached_tokens` | `cache_read_input_tokens` | `cachedContentTokenCount` | - |
/// | cache creation | - | - | `cache_creation_input_tokens` | - | - |
/// | total | `total_tokens` | `total_tokens` | - | `totalTokenCount` | - |
///
/// ```
/// use chatmock::{Reply, Usage};
///
/// let reply = Reply::text("Hi!").usage(Usage {
///     input_tokens: Some(1200),
///     cached_input_tokens: Some(1024),
///     ..Usage::default()
/// });
/// # drop(reply);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Tokens of the prompt.
    pub input_tokens: Option<u64>,
    /// Tokens generated, reasoning included.
    pub output_tokens: Option<u64>,
    /// Generated tokens that were reasoning.
    pub reasoning_tokens: Option<u64>,
    /// Prompt tokens read from the provider's prompt cache.
    pub cached_input_tokens: Option<u64>,
    /// Prompt tokens written to the prompt cache (Anthropic's cache creation).
    pub cache_creation_input_tokens: Option<u64>,
    /// The total the formats that report one send.
    pub total_tokens: Option<u64>,
}
