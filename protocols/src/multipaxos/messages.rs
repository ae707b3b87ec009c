//! Multi-Paxos' messages: Phase 1 (prepare / promise) once per leadership,
//! Phase 2 (accept / accepted) per slot, heartbeats that carry the decided
//! prefix, and catch-up for lagging learners. Client requests and replies
//! travel beside them in the shared envelope ([`crate::kv::KvMsg`]).

use std::sync::Arc;

use faultline_sim::Message;

use super::log::{Ballot, SlotCommand, Snapshot};

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum PaxosMsg {
    /// Phase 1a, for every slot from `from_slot` on.
    Prepare {
        ballot: Ballot,
        from_slot: u64,
    },
    /// Phase 1b: the acceptor promised `ballot`. `accepted` is what it
    /// accepted at each slot from the prepare's `from_slot` on; `base` is
    /// the last slot its snapshot covers (decided, no longer held).
    Promise {
        ballot: Ballot,
        base: u64,
        accepted: Vec<(u64, Ballot, SlotCommand)>,
    },
    /// Phase 2a for consecutive slots from `first_slot`. `commit`: every
    /// slot up to it is decided, with the value this ballot proposed there
    /// (or one decided before this ballot's first slot).
    Accept {
        ballot: Ballot,
        first_slot: u64,
        commands: Vec<SlotCommand>,
        commit: u64,
    },
    /// Phase 2b for the slots `first_slot..first_slot + count`.
    Accepted {
        ballot: Ballot,
        first_slot: u64,
        count: u64,
    },
    /// A prepare or accept refused: the acceptor promised `promised`.
    Nack {
        ballot: Ballot,
        promised: Ballot,
    },
    /// The leader's keep-alive; `round` numbers it for leases and
    /// leadership checks.
    Heartbeat {
        ballot: Ballot,
        commit: u64,
        round: u64,
    },
    HeartbeatAck {
        ballot: Ballot,
        round: u64,
    },
    /// A learner missing decided slots from `from_slot` asks the leader.
    CatchUp {
        from_slot: u64,
    },
    /// Decided slots from `first_slot` on.
    Decisions {
        first_slot: u64,
        commands: Vec<SlotCommand>,
    },
    /// The slots asked for are compacted: the store that covers them.
    InstallSnapshot {
        snapshot: Arc<Snapshot>,
    },
}

impl Message for PaxosMsg {
    fn label(&self) -> &'static str {
        match self {
            PaxosMsg::Prepare { .. } => "Prepare",
            PaxosMsg::Promise { .. } => "Promise",
            PaxosMsg::Accept { .. } => "Accept",
            PaxosMsg::Accepted { .. } => "Accepted",
            PaxosMsg::Nack { .. } => "Nack",
            PaxosMsg::Heartbeat { .. } => "Heartbeat",
            PaxosMsg::HeartbeatAck { .. } => "HeartbeatAck",
            PaxosMsg::CatchUp { .. } => "CatchUp",
            PaxosMsg::Decisions { .. } => "Decisions",
            PaxosMsg::InstallSnapshot { .. } => "InstallSnapshot",
        }
    }
}
