//! Raft's messages (Figure 2 of the Raft paper, plus PreVote, ReadIndex
//! rounds and InstallSnapshot). Client requests and replies travel beside
//! them in the shared envelope ([`crate::kv::KvMsg`]).

use std::sync::Arc;

use faultline_sim::Message;

use super::log::{Entry, Snapshot};

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum RaftMsg {
    RequestVote {
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
        /// A PreVote probe (§9.6 of Ongaro's dissertation): no term change.
        pre_vote: bool,
    },
    Vote {
        term: u64,
        granted: bool,
        pre_vote: bool,
    },
    Append {
        term: u64,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
        /// Heartbeat round, echoed back; confirms leadership for ReadIndex.
        round: u64,
    },
    AppendReply {
        term: u64,
        success: bool,
        /// On success: the last index this request made match the leader.
        match_index: u64,
        /// On failure: where the leader should look next (fast back-off).
        conflict_index: u64,
        conflict_term: Option<u64>,
        /// The round and term of the request this answers. A round is unique
        /// only within its leader's term: a reply to an older term's request
        /// (a follower rejecting it with its own, newer, term) must never
        /// count towards the rounds of a later leadership of the same node.
        round: u64,
        request_term: u64,
    },
    InstallSnapshot {
        term: u64,
        snapshot: Arc<Snapshot>,
        round: u64,
    },
    SnapshotReply {
        term: u64,
        last_index: u64,
        /// As in `AppendReply`: which request this answers.
        round: u64,
        request_term: u64,
    },
}

impl Message for RaftMsg {
    fn label(&self) -> &'static str {
        match self {
            RaftMsg::RequestVote { pre_vote: true, .. } => "PreVote",
            RaftMsg::RequestVote { .. } => "RequestVote",
            RaftMsg::Vote { pre_vote: true, .. } => "PreVoteReply",
            RaftMsg::Vote { .. } => "Vote",
            RaftMsg::Append { entries, .. } if entries.is_empty() => "Heartbeat",
            RaftMsg::Append { .. } => "AppendEntries",
            RaftMsg::AppendReply { .. } => "AppendReply",
            RaftMsg::InstallSnapshot { .. } => "InstallSnapshot",
            RaftMsg::SnapshotReply { .. } => "SnapshotReply",
        }
    }
}
