//! Single-decree Paxos messages, one instance per key. Client requests and
//! replies travel beside them in the shared envelope ([`crate::kv::KvMsg`]).

use faultline_sim::Message;

use super::ballot::Ballot;
use crate::kv::{Key, Value};

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum PaxosMsg {
    /// Phase 1a: a proposer asks acceptors to promise `ballot` for `key`.
    Prepare { key: Key, ballot: Ballot },
    /// Phase 1b: the promise, with the highest-ballot value the acceptor
    /// has accepted for `key` so far.
    Promise { key: Key, ballot: Ballot, accepted: Option<(Ballot, Value)> },
    /// Phase 2a: a proposer asks acceptors to accept `value` at `ballot`.
    Accept { key: Key, ballot: Ballot, value: Value },
    /// Phase 2b: an acceptor accepted; sent to every learner.
    Accepted { key: Key, ballot: Ballot, value: Value },
    /// An acceptor refuses `ballot`: it has promised `promised`.
    Nack { key: Key, ballot: Ballot, promised: Ballot },
    /// A learner that knows `key` is decided answers a Prepare with the
    /// decision instead of a promise.
    Decided { key: Key, value: Value },
}

impl PaxosMsg {
    pub fn key(&self) -> Key {
        match *self {
            PaxosMsg::Prepare { key, .. }
            | PaxosMsg::Promise { key, .. }
            | PaxosMsg::Accept { key, .. }
            | PaxosMsg::Accepted { key, .. }
            | PaxosMsg::Nack { key, .. }
            | PaxosMsg::Decided { key, .. } => key,
        }
    }
}

impl Message for PaxosMsg {
    fn label(&self) -> &'static str {
        match self {
            PaxosMsg::Prepare { .. } => "Prepare",
            PaxosMsg::Promise { .. } => "Promise",
            PaxosMsg::Accept { .. } => "Accept",
            PaxosMsg::Accepted { .. } => "Accepted",
            PaxosMsg::Nack { .. } => "Nack",
            PaxosMsg::Decided { .. } => "Decided",
        }
    }
}
