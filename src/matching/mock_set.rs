//! The mocks mounted on one server: matching in priority and mount order, hit counts, and
//! the `up_to_n_times` limits.

use std::sync::Arc;

use super::respond::Responder;
use crate::matching::Mock;
use crate::request::ReceivedRequest;
use crate::script::Reply;
use crate::traffic::{Chaos, RateLimiter};
use crate::wire::WireFormat;

/// The mock that answers a request, and how.
pub(crate) struct FoundMock {
    pub(crate) id: usize,
    pub(crate) label: String,
    responder: Responder,
    pub(crate) wire_format: Option<WireFormat>,
    pub(crate) rate_limiter: Option<Arc<RateLimiter>>,
    /// The mock's chaos, and which of its matches this is (from 0).
    pub(crate) chaos: Option<(Arc<Chaos>, u64)>,
}

impl FoundMock {
    /// The mock's reply to `request`: its fixed reply, or what its responder computes,
    /// which runs here, outside the lock on the mocks, and may panic.
    pub(crate) fn reply(&self, request: &ReceivedRequest) -> Arc<Reply> {
        match &self.responder {
            Responder::Fixed(reply) => Arc::clone(reply),
            Responder::Computed(responder) => Arc::new(responder.respond(request)),
        }
    }
}

/// A mock with its running count of matched requests.
pub(crate) struct MountedMock {
    pub(crate) id: usize,
    pub(crate) mock: Mock,
    pub(crate) hits: u64,
    rate_limiter: Option<Arc<RateLimiter>>,
}

impl MountedMock {
    /// How the mock is called in reports: its name, or its mount position.
    pub(crate) fn label(&self) -> String {
        match &self.mock.name {
            Some(name) => format!("Mock #{} {name:?}", self.id),
            None => format!("Mock #{}", self.id),
        }
    }

    pub(crate) fn exhausted(&self) -> bool {
        self.mock.max_matches.is_some_and(|max| self.hits >= max)
    }
}

/// The mounted mocks of one server, kept sorted by priority then mount order.
#[derive(Default)]
pub(crate) struct MockSet {
    mocks: Vec<MountedMock>,
    next_id: usize,
}

impl MockSet {
    pub(crate) fn mount(&mut self, mock: Mock) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        // After every mock of equal or higher priority: equal priorities keep mount order.
        let at = self
            .mocks
            .partition_point(|mounted| mounted.mock.priority <= mock.priority);
        let rate_limiter = mock
            .rate_limit
            .clone()
            .map(|limit| Arc::new(RateLimiter::new(limit)));
        self.mocks.insert(
            at,
            MountedMock {
                id,
                mock,
                hits: 0,
                rate_limiter,
            },
        );
        id
    }

    pub(crate) fn unmount(&mut self, id: usize) -> Option<MountedMock> {
        let at = self.mocks.iter().position(|mounted| mounted.id == id)?;
        Some(self.mocks.remove(at))
    }

    /// Whether a mock matches `request` and still has matches left, counting nothing.
    pub(crate) fn would_match(&self, request: &ReceivedRequest) -> bool {
        self.mocks.iter().any(|mounted| {
            !mounted.exhausted()
                && mounted
                    .mock
                    .matchers
                    .iter()
                    .all(|matcher| matcher.matches(request))
        })
    }

    /// The first mock that matches `request` and still has matches left, counting the hit.
    /// Returns the mock's id, its label for reports, and how it answers.
    pub(crate) fn find(&mut self, request: &ReceivedRequest) -> Option<FoundMock> {
        let mounted = self.mocks.iter_mut().find(|mounted| {
            !mounted.exhausted()
                && mounted
                    .mock
                    .matchers
                    .iter()
                    .all(|matcher| matcher.matches(request))
        })?;
        let responders = &mounted.mock.responders;
        let responder = &responders[(mounted.hits as usize).min(responders.len() - 1)];
        let index = mounted.hits;
        mounted.hits += 1;
        Some(FoundMock {
            id: mounted.id,
            label: mounted.label(),
            responder: responder.clone(),
            wire_format: mounted.mock.wire_format,
            rate_limiter: mounted.rate_limiter.clone(),
            chaos: mounted.mock.chaos.clone().map(|chaos| (chaos, index)),
        })
    }

    /// The models the mounted mocks' model matchers name, each once, in mount order.
    pub(crate) fn models(&self) -> Vec<String> {
        let mut models: Vec<String> = Vec::new();
        for model in self.mocks.iter().flat_map(|mounted| &mounted.mock.models) {
            if !models.contains(model) {
                models.push(model.clone());
            }
        }
        models
    }

    pub(crate) fn len(&self) -> usize {
        self.mocks.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &MountedMock> {
        self.mocks.iter()
    }

    pub(crate) fn clear(&mut self) {
        self.mocks.clear();
    }
}
