//! The acceptor's two rules as pure functions over its state for one key,
//! so they can be table-tested apart from the node (Paxos Made Simple, §2.2):
//!
//! - P1a: an acceptor may accept a ballot only if it has not promised a
//!   higher one; it promises `b` (Phase 1b) when `b` is at least its promise,
//!   reporting the highest-ballot value it has accepted.
//! - An acceptor accepts `(b, v)` (Phase 2b) when `b` is at least its
//!   promise, and its promise rises to `b`: the accepted ballot never
//!   exceeds the promise.
//!
//! A Prepare equal to the promise is answered again (not refused): it is a
//! duplicate or retry of the same proposer's request, since ballots are
//! unique per proposer.

use super::ballot::Ballot;
use crate::kv::Value;

/// What an acceptor holds for one key. The node keeps it on its durable
/// state and writes it before it answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AcceptorState {
    pub promised: Ballot,
    pub accepted: Option<(Ballot, Value)>,
}

/// The answer to a Prepare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrepareReply {
    /// Promised; the highest-ballot value accepted so far.
    Promise { accepted: Option<(Ballot, Value)> },
    /// Refused: the acceptor has promised a higher ballot.
    Nack { promised: Ballot },
}

/// The answer to an Accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptReply {
    Accepted,
    Nack { promised: Ballot },
}

/// Phase 1b: promise `ballot` if it is at least the current promise.
pub fn on_prepare(state: &mut AcceptorState, ballot: Ballot) -> PrepareReply {
    if ballot >= state.promised {
        state.promised = ballot;
        PrepareReply::Promise { accepted: state.accepted }
    } else {
        PrepareReply::Nack { promised: state.promised }
    }
}

/// Phase 2b: accept `(ballot, value)` if `ballot` is at least the promise.
/// `below_promise` is the bug knob `accept_below_promise`: accept whatever
/// the ballot, and leave the promise where it was.
pub fn on_accept(state: &mut AcceptorState, ballot: Ballot, value: Value, below_promise: bool) -> AcceptReply {
    if ballot >= state.promised {
        state.promised = ballot;
        state.accepted = Some((ballot, value));
        AcceptReply::Accepted
    } else if below_promise {
        state.accepted = Some((ballot, value));
        AcceptReply::Accepted
    } else {
        AcceptReply::Nack { promised: state.promised }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(round: u64, node: u32) -> Ballot {
        Ballot::new(round, node)
    }

    #[test]
    fn prepare_promises_at_or_above_the_promise_and_refuses_below() {
        // (promise before, prepare ballot, reply, promise after)
        let cases = [
            (Ballot::ZERO, b(1, 0), PrepareReply::Promise { accepted: None }, b(1, 0)),
            (b(2, 1), b(2, 1), PrepareReply::Promise { accepted: None }, b(2, 1)),
            (b(2, 1), b(2, 0), PrepareReply::Nack { promised: b(2, 1) }, b(2, 1)),
            (b(2, 1), b(1, 4), PrepareReply::Nack { promised: b(2, 1) }, b(2, 1)),
            (b(2, 1), b(3, 0), PrepareReply::Promise { accepted: None }, b(3, 0)),
        ];
        for (before, ballot, reply, after) in cases {
            let mut s = AcceptorState { promised: before, accepted: None };
            assert_eq!(on_prepare(&mut s, ballot), reply, "promise {before}, prepare {ballot}");
            assert_eq!(s.promised, after);
        }
    }

    #[test]
    fn a_promise_reports_the_value_accepted_so_far() {
        let mut s = AcceptorState::default();
        assert_eq!(on_accept(&mut s, b(1, 0), 7, false), AcceptReply::Accepted);
        assert_eq!(on_prepare(&mut s, b(2, 1)), PrepareReply::Promise { accepted: Some((b(1, 0), 7)) });
    }

    #[test]
    fn accept_respects_the_promise_and_raises_it() {
        let mut s = AcceptorState { promised: b(3, 1), accepted: None };
        assert_eq!(on_accept(&mut s, b(2, 0), 5, false), AcceptReply::Nack { promised: b(3, 1) });
        assert_eq!(s.accepted, None);
        assert_eq!(on_accept(&mut s, b(3, 1), 5, false), AcceptReply::Accepted);
        assert_eq!(s.accepted, Some((b(3, 1), 5)));
        assert_eq!(on_accept(&mut s, b(4, 0), 6, false), AcceptReply::Accepted);
        assert_eq!((s.promised, s.accepted), (b(4, 0), Some((b(4, 0), 6))), "the promise rises with the accept");
    }

    #[test]
    fn the_bug_knob_accepts_below_the_promise() {
        let mut s = AcceptorState { promised: b(3, 1), accepted: None };
        assert_eq!(on_accept(&mut s, b(2, 0), 5, true), AcceptReply::Accepted);
        assert_eq!((s.promised, s.accepted), (b(3, 1), Some((b(2, 0), 5))));
    }
}
