//! One message type for a world's nodes and clients: the protocol's own
//! peer messages, plus the client requests and replies that every protocol
//! carries the same way. Protocols declare their peer messages only.

use std::fmt;
use std::hash::Hash;

use faultline_sim::Message;

/// A message between processes: peer traffic, or a client's request and a
/// node's reply.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum Envelope<P, Req, Rep> {
    Peer(P),
    Request(Req),
    Reply(Rep),
}

impl<P: Message, Req: Clone + fmt::Debug + Hash, Rep: Clone + fmt::Debug + Hash> Message for Envelope<P, Req, Rep> {
    fn label(&self) -> &'static str {
        match self {
            Envelope::Peer(m) => m.label(),
            Envelope::Request(_) => "ClientRequest",
            Envelope::Reply(_) => "ClientReply",
        }
    }
}

/// The peer message type of a protocol whose nodes never talk to each other.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum NoPeer {}

impl Message for NoPeer {
    fn label(&self) -> &'static str {
        match *self {}
    }
}
