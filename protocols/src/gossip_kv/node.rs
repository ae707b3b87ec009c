//! A gossip-kv replica: its last-writer-wins entries and client sessions on
//! disk, its hot entries (the ones it is spreading) in memory, and the
//! messages of rumor mongering and anti-entropy.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use faultline_sim::{Addr, Ctx, Duration, Message, NodeId, Process};
use rand::Rng;

use super::{Params, MAX_HOT, MAX_PUSH};
use crate::client::Envelope;
use crate::gossip::Stop;
use crate::kv::{Command, Key, KvMsg, KvResult, Reply, Request, Value};

/// A value's version: ordered by timestamp, then by the node that wrote it,
/// so two versions of one key are never equal unless they are the same
/// write's.
#[derive(Copy, Clone, Debug, Default, Hash, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// The writing node's clock, in ticks of `clock_resolution`.
    pub ts: u64,
    pub node: u32,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, n{})", self.ts, self.node)
    }
}

/// One key's register at one replica.
#[derive(Copy, Clone, Debug, Hash, PartialEq, Eq)]
pub struct Entry {
    pub version: Version,
    pub value: Value,
}

/// The most write sequence numbers a replica remembers per client beyond
/// the client's acknowledged watermark.
pub const MAX_APPLIED_PER_CLIENT: usize = 1_024;

/// The writes a replica has applied for one client, so that a retried or
/// duplicated request is answered without writing again.
#[derive(Clone, Debug, Default)]
struct Applied {
    /// Every sequence number below this one is finished at the client.
    acknowledged_below: u64,
    seqs: BTreeSet<u64>,
}

/// What survives a crash: every entry, and the writes applied per client.
#[derive(Clone, Debug, Default)]
pub struct StoreDisk {
    entries: BTreeMap<Key, Entry>,
    applied: BTreeMap<u32, Applied>,
}

/// How a replica treats a write request.
enum Fresh {
    Apply,
    /// Applied here before: answer again, write nothing.
    Again,
    /// Older than what its client has acknowledged: a late copy.
    Stale,
}

impl StoreDisk {
    fn admit(&mut self, request: &Request) -> Fresh {
        let (client, seq) = (request.op.client, request.op.seq);
        let applied = self.applied.entry(client).or_default();
        if seq < applied.acknowledged_below {
            return Fresh::Stale;
        }
        if request.first_outstanding > applied.acknowledged_below {
            applied.acknowledged_below = request.first_outstanding;
            applied.seqs = applied.seqs.split_off(&request.first_outstanding);
        }
        if !applied.seqs.insert(seq) {
            return Fresh::Again;
        }
        while applied.seqs.len() > MAX_APPLIED_PER_CLIENT {
            applied.seqs.pop_first();
        }
        Fresh::Apply
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum StorePeer {
    /// Rumor mongering: the sender's hot entries.
    Push { entries: Vec<(Key, Entry)> },
    /// The receiver's entries for the pushed keys it already held at the
    /// pushed version or a newer one (Demers' feedback); the sender takes
    /// the newer ones and counts the others as unnecessary contacts.
    Feedback { entries: Vec<(Key, Entry)> },
    /// Anti-entropy: the version of every key the sender holds.
    Digest { versions: Vec<(Key, Version)> },
    /// The entries the receiver of a digest holds newer than the digest's
    /// (or the digest lacks), and the keys it holds older (or lacks).
    DigestReply { newer: Vec<(Key, Entry)>, wants: Vec<Key> },
    /// The entries a digest reply asked for.
    Entries { entries: Vec<(Key, Entry)> },
}

impl Message for StorePeer {
    fn label(&self) -> &'static str {
        match self {
            StorePeer::Push { .. } => "Push",
            StorePeer::Feedback { .. } => "Feedback",
            StorePeer::Digest { .. } => "Digest",
            StorePeer::DigestReply { .. } => "DigestReply",
            StorePeer::Entries { .. } => "Entries",
        }
    }
}

pub type StoreMsg = KvMsg<StorePeer>;

#[derive(Copy, Clone, Debug, Hash, PartialEq, Eq)]
pub enum StoreTimer {
    Round,
    AntiEntropy,
}

/// Facts for the monitor.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum StoreNote {
    /// The replica's entry for `key` is now `value` at `version` (a write
    /// or a merge).
    Holds { key: Key, version: Version, value: Value },
    /// A client's write got `version` here and is acknowledged.
    Acked { key: Key, version: Version },
    /// A read answered from the replica's entry at `version` (`None`: absent).
    Read { key: Key, version: Option<Version> },
    /// On start: the replica recovered `key`'s `value` at `version` from
    /// its disk.
    Recovered { key: Key, version: Version, value: Value },
}

/// How an arriving entry compares with the one held.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Merge {
    /// Taken: it is newer (or the key was absent).
    Took,
    /// Held already, or a newer one is held.
    Had,
}

pub struct StoreNode {
    id: NodeId,
    params: Arc<Params>,
    /// Entries being spread: key → unnecessary contacts (or pushes, blind)
    /// counted for the version held now.
    hot: BTreeMap<Key, u32>,
}

impl StoreNode {
    /// A replica recovering after a crash, or fresh (empty disk).
    pub fn recover(id: NodeId, params: Arc<Params>, _disk: &StoreDisk) -> StoreNode {
        StoreNode { id, params, hot: BTreeMap::new() }
    }

    fn send(ctx: &mut Ctx<'_, Self>, to: Addr, msg: StorePeer) {
        ctx.count("gossip_messages", 1);
        ctx.send(to, Envelope::Peer(msg));
    }

    fn make_hot(&mut self, key: Key) {
        if self.hot.len() < MAX_HOT || self.hot.contains_key(&key) {
            self.hot.insert(key, 0);
        }
    }

    /// Whether `incoming` replaces `held` under last-writer-wins.
    fn supersedes(&self, ctx: &mut Ctx<'_, Self>, incoming: Version, held: Version) -> bool {
        if incoming.ts == held.ts && incoming.node != held.node {
            ctx.reached("timestamp tie decided by node id");
            if self.params.bugs.lww_arrival_order {
                // The planted bug: a tie goes to the later arrival.
                return true;
            }
        }
        if self.params.bugs.older_over_newer {
            // The planted bug: anything different replaces what is held.
            return incoming != held;
        }
        incoming > held
    }

    /// Merges one arriving entry into the replica.
    fn merge(&mut self, ctx: &mut Ctx<'_, Self>, key: Key, entry: Entry) -> Merge {
        let held = ctx.durable().entries.get(&key).copied();
        let take = match held {
            None => true,
            Some(h) => self.supersedes(ctx, entry.version, h.version),
        };
        if !take {
            return Merge::Had;
        }
        ctx.durable_mut().entries.insert(key, entry);
        ctx.note(StoreNote::Holds { key, version: entry.version, value: entry.value });
        self.make_hot(key);
        Merge::Took
    }

    fn entry(ctx: &Ctx<'_, Self>, key: Key) -> Option<Entry> {
        ctx.durable().entries.get(&key).copied()
    }

    /// The hot entries, at most [`MAX_PUSH`], least-spread first.
    fn hot_entries(&self, ctx: &Ctx<'_, Self>) -> Vec<(Key, Entry)> {
        let mut hot: Vec<(u32, Key)> = self.hot.iter().map(|(&k, &c)| (c, k)).collect();
        if hot.len() > MAX_PUSH {
            hot.select_nth_unstable(MAX_PUSH);
            hot.truncate(MAX_PUSH);
        }
        hot.sort_unstable();
        hot.into_iter().filter_map(|(_, k)| Self::entry(ctx, k).map(|e| (k, e))).collect()
    }

    /// One counted contact for each of `keys` still hot here at `version`:
    /// the stop rule decides whether the node keeps spreading it.
    fn lose_interest(&mut self, ctx: &mut Ctx<'_, Self>, key: Key, version: Version) {
        let Some(&count) = self.hot.get(&key) else { return };
        if Self::entry(ctx, key).is_none_or(|e| e.version != version) {
            return;
        }
        let stop = match self.params.stop {
            Stop::Never => false,
            Stop::Counter => count + 1 >= self.params.k,
            Stop::Coin => ctx.rng().gen_range(0..self.params.k) == 0,
        };
        if stop {
            self.hot.remove(&key);
        } else {
            self.hot.insert(key, count + 1);
        }
    }

    fn on_round(&mut self, ctx: &mut Ctx<'_, Self>) {
        let next = crate::gossip::jittered_round(self.params.round, self.params.jitter, ctx.rng());
        ctx.set_timer(next, StoreTimer::Round);
        if self.hot.is_empty() {
            return;
        }
        let entries = self.hot_entries(ctx);
        for _ in 0..self.params.fanout {
            let Some(to) = ctx.random_peer() else { return };
            Self::send(ctx, to, StorePeer::Push { entries: entries.clone() });
        }
    }

    fn on_anti_entropy(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(self.params.anti_entropy, StoreTimer::AntiEntropy);
        let Some(to) = ctx.random_peer() else { return };
        let versions = ctx.durable().entries.iter().map(|(&k, e)| (k, e.version)).collect();
        Self::send(ctx, to, StorePeer::Digest { versions });
    }

    fn on_push(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, entries: Vec<(Key, Entry)>) {
        let mut feedback = Vec::new();
        for (key, entry) in entries {
            if self.merge(ctx, key, entry) == Merge::Had {
                if let Some(held) = Self::entry(ctx, key) {
                    feedback.push((key, held));
                }
            }
        }
        if !feedback.is_empty() {
            Self::send(ctx, from, StorePeer::Feedback { entries: feedback });
        }
    }

    fn on_feedback(&mut self, ctx: &mut Ctx<'_, Self>, entries: Vec<(Key, Entry)>) {
        for (key, entry) in entries {
            if self.merge(ctx, key, entry) == Merge::Had {
                self.lose_interest(ctx, key, entry.version);
            }
        }
    }

    fn on_digest(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, versions: Vec<(Key, Version)>) {
        let theirs: BTreeMap<Key, Version> = versions.into_iter().collect();
        let mut newer = Vec::new();
        let mut wants = Vec::new();
        for (&key, entry) in &ctx.durable().entries {
            match theirs.get(&key) {
                Some(v) if *v == entry.version => {}
                Some(v) if *v > entry.version => wants.push(key),
                _ => newer.push((key, *entry)),
            }
        }
        let mine = &ctx.durable().entries;
        wants.extend(theirs.keys().filter(|k| !mine.contains_key(k)));
        wants.sort_unstable();
        if !newer.is_empty() || !wants.is_empty() {
            Self::send(ctx, from, StorePeer::DigestReply { newer, wants });
        }
    }

    fn take_repairs(&mut self, ctx: &mut Ctx<'_, Self>, entries: Vec<(Key, Entry)>) {
        for (key, entry) in entries {
            if self.merge(ctx, key, entry) == Merge::Took {
                ctx.reached("anti-entropy repaired an entry");
                ctx.count("anti_entropy_repairs", 1);
            }
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, request: Request) {
        let op = request.op;
        let result = match request.command {
            Command::Get { key } => {
                let entry = Self::entry(ctx, key);
                ctx.note(StoreNote::Read { key, version: entry.map(|e| e.version) });
                KvResult::Read(entry.map(|e| e.value))
            }
            Command::Put { key, value } => {
                match ctx.durable_mut().admit(&request) {
                    Fresh::Stale => return,
                    Fresh::Again => ctx.reached("duplicate request answered from the session"),
                    Fresh::Apply => self.write(ctx, key, value),
                }
                KvResult::Written
            }
            // The configuration refuses compare-and-set, and the clients
            // never propose.
            Command::Cas { .. } | Command::Propose { .. } => return,
        };
        ctx.send(from, Envelope::Reply(Reply::Done { op, result }));
    }

    /// A client's write: a version above the clock and above what is held.
    fn write(&mut self, ctx: &mut Ctx<'_, Self>, key: Key, value: Value) {
        let clock = ctx.now().as_nanos() / self.params.clock_resolution.as_nanos();
        let held = Self::entry(ctx, key).map(|e| e.version.ts);
        let ts = match held {
            Some(h) if h >= clock => {
                ctx.reached("write timestamp raised above the clock");
                h + 1
            }
            _ => clock,
        };
        let version = Version { ts, node: self.id.0 };
        ctx.durable_mut().entries.insert(key, Entry { version, value });
        ctx.note(StoreNote::Holds { key, version, value });
        ctx.note(StoreNote::Acked { key, version });
        self.make_hot(key);
    }
}

impl Process for StoreNode {
    type Msg = StoreMsg;
    type Timer = StoreTimer;
    type Durable = StoreDisk;
    type Note = StoreNote;

    /// Rounds and anti-entropy start at a random phase; what the disk holds
    /// is reported, and spread again (it may not have been before the crash).
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let first = Duration::from_nanos(ctx.rng().gen_range(0..self.params.round.as_nanos()));
        ctx.set_timer(first, StoreTimer::Round);
        let phase = Duration::from_nanos(ctx.rng().gen_range(0..self.params.anti_entropy.as_nanos()));
        ctx.set_timer(phase, StoreTimer::AntiEntropy);
        let recovered: Vec<(Key, Entry)> = ctx.durable().entries.iter().map(|(&k, e)| (k, *e)).collect();
        for (key, Entry { version, value }) in recovered {
            ctx.note(StoreNote::Recovered { key, version, value });
            self.make_hot(key);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, msg: StoreMsg) {
        match msg {
            Envelope::Request(request) => self.on_request(ctx, from, request),
            Envelope::Reply(_) => {}
            Envelope::Peer(StorePeer::Push { entries }) => self.on_push(ctx, from, entries),
            Envelope::Peer(StorePeer::Feedback { entries }) => self.on_feedback(ctx, entries),
            Envelope::Peer(StorePeer::Digest { versions }) => self.on_digest(ctx, from, versions),
            Envelope::Peer(StorePeer::DigestReply { newer, wants }) => {
                self.take_repairs(ctx, newer);
                let entries: Vec<(Key, Entry)> =
                    wants.into_iter().filter_map(|k| Self::entry(ctx, k).map(|e| (k, e))).collect();
                if !entries.is_empty() {
                    Self::send(ctx, from, StorePeer::Entries { entries });
                }
            }
            Envelope::Peer(StorePeer::Entries { entries }) => self.take_repairs(ctx, entries),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: StoreTimer) {
        match timer {
            StoreTimer::Round => self.on_round(ctx),
            StoreTimer::AntiEntropy => self.on_anti_entropy(ctx),
        }
    }
}
