//! An ABD node: a replica of every key's register, and the coordinator of
//! the client operations sent to it. The two roles share a node but not
//! state: the replica's registers are durable ([`AbdDisk`]), the
//! coordinator's rounds in flight are volatile and die with a crash.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use faultline::protocols::client::Envelope;
use faultline::protocols::kv::{Command, Key, KvMsg, KvResult, OpId, Reply, Request, Value};
use faultline::sim::{Addr, Ctx, Message, NodeId, Process, Time};

use crate::Params;

/// A register's version. Ordered by `version`, then by the operation that
/// wrote it, which is unique per write: two writes never share a tag.
#[derive(Copy, Clone, Debug, Default, Hash, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tag {
    pub version: u64,
    pub client: u32,
    pub seq: u64,
}

/// One key's register at one replica. The default — tag zero, no value —
/// is a key never written; every write's tag has a version of at least 1.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq)]
pub struct Register {
    pub tag: Tag,
    pub value: Option<Value>,
}

/// The most operations a node remembers having started for one client
/// beyond the client's acknowledged watermark.
pub const MAX_STARTED_PER_CLIENT: usize = 1_024;

/// The operations a node has started for one client, so that a duplicated
/// request does not start one again.
#[derive(Clone, Debug, Default)]
struct Started {
    /// Every sequence number below this one is finished at the client.
    acknowledged_below: u64,
    seqs: BTreeSet<u64>,
}

/// What survives a crash: every register, and the operations started.
#[derive(Clone, Debug, Default)]
pub struct AbdDisk {
    registers: BTreeMap<Key, Register>,
    started: BTreeMap<u32, Started>,
}

impl AbdDisk {
    /// Records that `request` starts now; false if it started before (a
    /// duplicate) or is older than what its client has acknowledged.
    fn start(&mut self, request: &Request) -> bool {
        let OpId { client, seq } = request.op;
        let started = self.started.entry(client).or_default();
        if seq < started.acknowledged_below {
            return false;
        }
        if request.first_outstanding > started.acknowledged_below {
            started.acknowledged_below = request.first_outstanding;
            started.seqs = started.seqs.split_off(&request.first_outstanding);
        }
        if !started.seqs.insert(seq) {
            return false;
        }
        while started.seqs.len() > MAX_STARTED_PER_CLIENT {
            started.seqs.pop_first();
        }
        true
    }
}

/// Peer messages. Each names the client operation whose round it belongs
/// to: one coordinator runs each operation, once.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum AbdPeer {
    /// Round one: what do you hold for `key`?
    Query {
        op: OpId,
        key: Key,
    },
    QueryReply {
        op: OpId,
        register: Register,
    },
    /// Round two: keep `register` for `key` if its tag is above yours.
    Store {
        op: OpId,
        key: Key,
        register: Register,
    },
    StoreAck {
        op: OpId,
    },
}

impl Message for AbdPeer {
    fn label(&self) -> &'static str {
        match self {
            AbdPeer::Query { .. } => "Query",
            AbdPeer::QueryReply { .. } => "QueryReply",
            AbdPeer::Store { .. } => "Store",
            AbdPeer::StoreAck { .. } => "StoreAck",
        }
    }
}

pub type AbdMsg = KvMsg<AbdPeer>;

#[derive(Clone, Debug, Hash)]
pub enum AbdTimer {
    /// Resend operation `op`'s current round to the nodes that have not answered.
    Retransmit { op: OpId },
}

/// A replica's report: it replaced `key`'s register with one of tag `tag`.
#[derive(Debug)]
pub struct Stored {
    pub key: Key,
    pub tag: Tag,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Round {
    /// Collecting registers; `highest` is the highest heard so far.
    Query { highest: Register },
    /// Storing `register` at a majority.
    Store { register: Register },
}

/// One client operation this node coordinates.
struct Coordination {
    client: Addr,
    command: Command,
    round: Round,
    /// Nodes that answered the current round, this one included.
    heard: BTreeSet<u32>,
    /// Local time the operation started, for `give_up_after`.
    started: Time,
}

pub struct AbdNode {
    id: NodeId,
    nodes: u32,
    params: Arc<Params>,
    in_flight: BTreeMap<OpId, Coordination>,
}

impl AbdNode {
    pub fn new(id: NodeId, nodes: u32, params: Arc<Params>) -> AbdNode {
        AbdNode { id, nodes, params, in_flight: BTreeMap::new() }
    }

    fn majority(&self) -> usize {
        self.nodes as usize / 2 + 1
    }

    // ---- replica ----

    fn register(ctx: &Ctx<'_, Self>, key: Key) -> Register {
        ctx.durable().registers.get(&key).cloned().unwrap_or_default()
    }

    /// Keeps `register` if its tag is above the one held (the simulated fsync).
    fn store(ctx: &mut Ctx<'_, Self>, key: Key, register: &Register) {
        let held = ctx.durable_mut().registers.entry(key).or_default();
        if register.tag > held.tag {
            *held = register.clone();
            ctx.note(Stored { key, tag: register.tag });
        }
    }

    // ---- coordinator ----

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, client: Addr, request: Request) {
        if matches!(request.command, Command::Cas { .. } | Command::Propose { .. }) {
            // The configuration refuses workloads with compare-and-set, and
            // its clients never propose.
            return;
        }
        if !ctx.durable_mut().start(&request) {
            ctx.count("abd_duplicate_requests", 1);
            ctx.reached("duplicate request ignored");
            return;
        }
        let coordination = Coordination {
            client,
            command: request.command,
            round: Round::Query { highest: Register::default() },
            heard: BTreeSet::new(),
            started: ctx.now(),
        };
        self.in_flight.insert(request.op, coordination);
        self.begin_round(ctx, request.op);
        ctx.set_timer(self.params.retransmit_interval, AbdTimer::Retransmit { op: request.op });
    }

    /// Starts operation `op`'s current round: answers it locally, then asks
    /// every other node.
    fn begin_round(&mut self, ctx: &mut Ctx<'_, Self>, op: OpId) {
        let Some(c) = self.in_flight.get_mut(&op) else { return };
        c.heard.clear();
        let key = c.command.key();
        match c.round.clone() {
            Round::Query { .. } => {
                let register = Self::register(ctx, key);
                self.send_round(ctx, op);
                self.on_query_reply(ctx, self.id.0, op, register);
            }
            Round::Store { register } => {
                Self::store(ctx, key, &register);
                self.send_round(ctx, op);
                self.on_store_ack(ctx, self.id.0, op);
            }
        }
    }

    /// Sends `op`'s current round to every other node that has not answered it.
    fn send_round(&mut self, ctx: &mut Ctx<'_, Self>, op: OpId) {
        let Some(c) = self.in_flight.get(&op) else { return };
        let key = c.command.key();
        let msg = match &c.round {
            Round::Query { .. } => AbdPeer::Query { op, key },
            Round::Store { register } => AbdPeer::Store { op, key, register: register.clone() },
        };
        for n in (0..self.nodes).filter(|&n| n != self.id.0 && !c.heard.contains(&n)) {
            ctx.send(Addr::node(n), Envelope::Peer(msg.clone()));
        }
    }

    fn on_query_reply(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, op: OpId, register: Register) {
        let majority = self.majority();
        let Some(c) = self.in_flight.get_mut(&op) else { return };
        let Round::Query { highest } = &mut c.round else { return };
        if !c.heard.insert(from) {
            return;
        }
        if register.tag > highest.tag {
            *highest = register;
        }
        if c.heard.len() < majority {
            return;
        }
        let highest = highest.clone();
        match c.command {
            Command::Put { value, .. } => {
                let tag = Tag { version: highest.tag.version + 1, client: op.client, seq: op.seq };
                c.round = Round::Store { register: Register { tag, value: Some(value) } };
            }
            Command::Get { .. } if self.params.bugs.skip_read_write_back => {
                self.finish(ctx, op, KvResult::Read(highest.value));
                return;
            }
            Command::Get { .. } => {
                ctx.count("abd_write_backs", 1);
                c.round = Round::Store { register: highest };
            }
            Command::Cas { .. } | Command::Propose { .. } => unreachable!("compare-and-set and propose never start"),
        }
        self.begin_round(ctx, op);
    }

    fn on_store_ack(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, op: OpId) {
        let majority = self.majority();
        let Some(c) = self.in_flight.get_mut(&op) else { return };
        let Round::Store { register } = &c.round else { return };
        if !c.heard.insert(from) || c.heard.len() < majority {
            return;
        }
        let result = match c.command {
            Command::Get { .. } => KvResult::Read(register.value),
            _ => KvResult::Written,
        };
        self.finish(ctx, op, result);
    }

    fn finish(&mut self, ctx: &mut Ctx<'_, Self>, op: OpId, result: KvResult) {
        if let Some(c) = self.in_flight.remove(&op) {
            ctx.send(c.client, Envelope::Reply(Reply::Done { op, result }));
        }
    }

    fn on_retransmit(&mut self, ctx: &mut Ctx<'_, Self>, op: OpId) {
        let Some(c) = self.in_flight.get(&op) else { return };
        if ctx.now().since(c.started) >= self.params.give_up_after {
            // Like a crashed coordinator: whatever it stored stays, and ABD
            // lets any later operation finish or supersede it.
            self.in_flight.remove(&op);
            ctx.count("abd_ops_abandoned", 1);
            ctx.reached("operation abandoned");
            return;
        }
        ctx.count("abd_retransmits", 1);
        ctx.reached("round retransmitted");
        self.send_round(ctx, op);
        ctx.set_timer(self.params.retransmit_interval, AbdTimer::Retransmit { op });
    }
}

impl Process for AbdNode {
    type Msg = AbdMsg;
    type Timer = AbdTimer;
    type Durable = AbdDisk;
    type Note = Stored;

    fn on_start(&mut self, _ctx: &mut Ctx<'_, Self>) {}

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, msg: AbdMsg) {
        match msg {
            Envelope::Request(request) => self.on_request(ctx, from, request),
            Envelope::Reply(_) => {}
            Envelope::Peer(peer) => {
                let Addr::Node(NodeId(from_node)) = from else { return };
                match peer {
                    AbdPeer::Query { op, key } => {
                        let register = Self::register(ctx, key);
                        ctx.send(from, Envelope::Peer(AbdPeer::QueryReply { op, register }));
                    }
                    AbdPeer::Store { op, key, register } => {
                        Self::store(ctx, key, &register);
                        ctx.send(from, Envelope::Peer(AbdPeer::StoreAck { op }));
                    }
                    AbdPeer::QueryReply { op, register } => self.on_query_reply(ctx, from_node, op, register),
                    AbdPeer::StoreAck { op } => self.on_store_ack(ctx, from_node, op),
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: AbdTimer) {
        match timer {
            AbdTimer::Retransmit { op } => self.on_retransmit(ctx, op),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(seq: u64, first_outstanding: u64) -> Request {
        Request::new(OpId { client: 0, seq }, Command::Get { key: 1 }, first_outstanding)
    }

    #[test]
    fn a_duplicate_or_acknowledged_request_never_starts_again() {
        let mut disk = AbdDisk::default();
        assert!(disk.start(&request(0, 0)));
        assert!(!disk.start(&request(0, 0)), "a duplicate");
        assert!(disk.start(&request(1, 1)));
        assert!(!disk.start(&request(0, 0)), "below the acknowledged watermark");
        assert_eq!(disk.started[&0].seqs.len(), 1, "seq 0 was forgotten once acknowledged");
    }

    #[test]
    fn tags_order_by_version_then_by_writer() {
        let a = Tag { version: 2, client: 9, seq: 9 };
        let b = Tag { version: 3, client: 0, seq: 0 };
        let c = Tag { version: 3, client: 0, seq: 1 };
        assert!(a < b && b < c);
        assert!(Tag::default() < Tag { version: 1, client: 0, seq: 0 });
    }
}
