//! ZAB's messages, named as ZooKeeper names them: Fast Leader Election's
//! notifications; discovery (FOLLOWERINFO, NEWEPOCH — ZooKeeper's
//! LEADERINFO —, ACKEPOCH); synchronization (DIFF, TRUNC or SNAP, then
//! NEWLEADER, its acknowledgement and UPTODATE); broadcast (PROPOSAL, ACK,
//! COMMIT); pings; and a follower's forwarded client request. Client
//! requests and replies travel beside them in the shared envelope
//! ([`crate::kv::KvMsg`]).
//!
//! Every message after the election travels on the session link between a
//! follower and its leader, FIFO: the leader sends the synchronization
//! before the proposals that follow it, and a proposal before its commit.

use std::sync::Arc;

use faultline_sim::Message;

use super::election::{PeerState, Vote};
use super::log::{Snapshot, Txn, Zxid};
use crate::kv::Request;

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum ZabMsg {
    /// Fast Leader Election: the sender's vote in its election `round`, and
    /// whether it is looking or already follows or leads that vote.
    Notification {
        vote: Vote,
        round: u64,
        state: PeerState,
    },
    /// Discovery: a follower registers with the leader it elected (the
    /// paper's CEPOCH), with the last epoch it accepted.
    FollowerInfo {
        accepted_epoch: u64,
    },
    /// Discovery: the leader's new epoch, above every epoch a quorum accepted.
    NewEpoch {
        epoch: u64,
    },
    /// Discovery: the follower accepted `epoch`. `current_epoch` is `None`
    /// when it had accepted that epoch already (from a leader it followed
    /// before): ZooKeeper answers so, and the leader does not count it
    /// towards the quorum that makes the epoch its own. `epoch_ends` is the
    /// last zxid of each epoch in its history ([`super::log::TxnLog::epoch_ends`]).
    AckEpoch {
        epoch: u64,
        current_epoch: Option<u64>,
        last: Zxid,
        epoch_ends: Vec<Zxid>,
    },
    /// Synchronization: the transactions after the follower's last one.
    Diff {
        txns: Vec<Txn>,
    },
    /// Synchronization: drop everything after `to`, then append `txns`.
    Trunc {
        to: Zxid,
        txns: Vec<Txn>,
    },
    /// Synchronization: replace the history by the snapshot, then `txns`.
    Snap {
        snapshot: Arc<Snapshot>,
        txns: Vec<Txn>,
    },
    /// Synchronization is sent: the follower's history is now the leader's
    /// up to `last`, and becomes epoch `epoch`'s.
    NewLeader {
        epoch: u64,
        last: Zxid,
    },
    /// The follower holds the leader's history up to `last`, durably, and
    /// its currentEpoch is `epoch` (ZooKeeper's ACK of NEWLEADER).
    AckNewLeader {
        epoch: u64,
        last: Zxid,
    },
    /// A quorum acknowledged NEWLEADER: everything up to `commit` is
    /// committed, and the follower may serve clients.
    UpToDate {
        epoch: u64,
        commit: Zxid,
    },
    Proposal {
        txn: Txn,
    },
    /// The follower holds every proposal up to `zxid`, durably.
    Ack {
        epoch: u64,
        zxid: Zxid,
    },
    /// Every transaction up to `zxid` is committed.
    Commit {
        zxid: Zxid,
    },
    /// The leader's heartbeat of ping round `round` (rounds only rise; a
    /// sync waits for a quorum to answer a round begun after it arrived).
    Ping {
        epoch: u64,
        round: u64,
    },
    PingAck {
        epoch: u64,
        round: u64,
    },
    /// A follower passes on a client's `sync` (ZooKeeper's SYNC request).
    Sync {
        id: u64,
    },
    /// The leader's answer to `Sync { id }`: it still led after the sync
    /// arrived (a quorum answered a later ping round), and everything it
    /// had proposed then is committed, up to `commit`. It travels behind
    /// those commits on the FIFO session.
    SyncDone {
        id: u64,
        commit: Zxid,
    },
    /// A follower passes on a client's request; it answers the client
    /// itself once it delivers the transaction.
    Forward {
        request: Request,
    },
}

impl Message for ZabMsg {
    fn label(&self) -> &'static str {
        match self {
            ZabMsg::Notification { .. } => "Notification",
            ZabMsg::FollowerInfo { .. } => "FollowerInfo",
            ZabMsg::NewEpoch { .. } => "NewEpoch",
            ZabMsg::AckEpoch { .. } => "AckEpoch",
            ZabMsg::Diff { .. } => "Diff",
            ZabMsg::Trunc { .. } => "Trunc",
            ZabMsg::Snap { .. } => "Snap",
            ZabMsg::NewLeader { .. } => "NewLeader",
            ZabMsg::AckNewLeader { .. } => "AckNewLeader",
            ZabMsg::UpToDate { .. } => "UpToDate",
            ZabMsg::Proposal { .. } => "Proposal",
            ZabMsg::Ack { .. } => "Ack",
            ZabMsg::Commit { .. } => "Commit",
            ZabMsg::Ping { .. } => "Ping",
            ZabMsg::PingAck { .. } => "PingAck",
            ZabMsg::Sync { .. } => "Sync",
            ZabMsg::SyncDone { .. } => "SyncDone",
            ZabMsg::Forward { .. } => "Forward",
        }
    }
}
