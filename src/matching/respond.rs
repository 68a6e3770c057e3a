//! Computed replies: the [`Respond`] trait, implemented by a fixed [`Reply`] and by
//! closures that read the request.

use crate::request::ReceivedRequest;
use crate::script::Reply;

/// Anything that can answer a matched request with a [`Reply`], as wiremock's `Respond`.
///
/// A [`Reply`] answers every request the same way; a closure `Fn(&ReceivedRequest) ->
/// Reply` computes the reply from the request (see
/// [`MockBuilder::respond_with_fn`](crate::MockBuilder::respond_with_fn)). Implement it
/// for a type of your own to keep a responder's settings together:
///
/// ```
/// use chatmock::{matchers, Mock, ReceivedRequest, Reply, Respond};
///
/// /// Answers with the tool result the client sent back, upper-cased.
/// struct Shout;
///
/// impl Respond for Shout {
///     fn respond(&self, request: &ReceivedRequest) -> Reply {
///         let result = request.chat().and_then(|chat| chat.latest_tool_results().next());
///         match result {
///             Some(result) => Reply::text(result.content().to_uppercase()),
///             None => Reply::http_error(400).error_message("no tool result to shout"),
///         }
///     }
/// }
///
/// let mock = Mock::given(matchers::has_tool_result()).respond_with(Shout);
/// # drop(mock);
/// ```
///
/// A responder runs once per matched request, outside every lock, and may be slow; like a
/// matcher, it should not count requests itself (a [`Conversation`](crate::Conversation)
/// answers by turn). A responder that panics answers with a 500 naming the panic, and the
/// server's verification reports the panic as a failure.
pub trait Respond: Send + Sync {
    /// The reply to `request`.
    fn respond(&self, request: &ReceivedRequest) -> Reply;
}

impl Respond for Reply {
    fn respond(&self, _request: &ReceivedRequest) -> Reply {
        self.clone()
    }
}

impl<F> Respond for F
where
    F: Fn(&ReceivedRequest) -> Reply + Send + Sync,
{
    fn respond(&self, request: &ReceivedRequest) -> Reply {
        self(request)
    }
}

/// How a mounted mock answers: a fixed reply, shared by every request without a copy
/// (long scripts are answered thousands of times in load tests), or a responder that
/// computes one.
#[derive(Clone)]
pub(crate) enum Responder {
    Fixed(std::sync::Arc<Reply>),
    Computed(std::sync::Arc<dyn Respond>),
}

impl Responder {
    pub(crate) fn new<R: Respond + 'static>(responder: R) -> Responder {
        let any: Box<dyn std::any::Any> = Box::new(responder);
        match any.downcast::<Reply>() {
            Ok(reply) => Responder::Fixed(std::sync::Arc::new(*reply)),
            Err(other) => match other.downcast::<R>() {
                Ok(responder) => Responder::Computed(std::sync::Arc::new(*responder)),
                Err(_) => unreachable!("the box holds an R"),
            },
        }
    }
}
