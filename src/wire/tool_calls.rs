//! Tool calls that go out whole once their last fragment has arrived (Gemini, Ollama).

use serde_json::Value;

use super::json::arguments_value;
use crate::script::MessageEvent;

/// The tool calls being streamed, for the formats that send each call whole once its last
/// fragment has arrived (Gemini, Ollama).
#[derive(Debug, Default)]
pub(crate) struct PendingCalls {
    calls: Vec<(String, String)>,
}

impl PendingCalls {
    /// Takes in `event`: a tool-call event is collected (`None`: nothing to send yet);
    /// any other event returns the calls that are complete before it, to send first. A
    /// call an error broke off is dropped: providers never send half a call.
    pub(crate) fn before(&mut self, event: &MessageEvent<'_>) -> Option<Vec<(String, Value)>> {
        match *event {
            MessageEvent::ToolCallStart { name, .. } => {
                self.calls.push((name.to_owned(), String::new()));
                None
            }
            MessageEvent::ToolArguments { fragment, .. } => {
                if let Some((_, arguments)) = self.calls.last_mut() {
                    arguments.push_str(fragment);
                }
                None
            }
            MessageEvent::Error(_) => {
                self.calls.clear();
                Some(Vec::new())
            }
            _ => Some(
                self.calls
                    .drain(..)
                    .map(|(name, arguments)| (name, arguments_value(&arguments)))
                    .collect(),
            ),
        }
    }
}
