//! Disks. Without one a node's durable state is durable the moment a handler
//! writes it, as if every fsync took no time. With one (`[disk]` in a
//! scenario) a write takes a latency drawn from the disk's distribution, and
//! a crash keeps only what had finished writing.
//!
//! The model, in the terms a protocol sees:
//!
//! - A handler that writes through `Ctx::durable_mut` persists
//!   *synchronously*: the handler returns at once (its in-memory view already
//!   holds the write), but every message the node sends from then on leaves
//!   only when the write is durable — a node that fsyncs before it answers.
//!   Messages sent by later handlers wait too, so nothing the node says can
//!   overtake a write it has made. So do the facts it reports to the online
//!   checkers (`Ctx::note`): a checker learns what a node did when the node
//!   could have told anyone, and never of a write a crash took back.
//! - A handler that writes through `Ctx::durable_mut_async(token)` persists
//!   *asynchronously*: its messages leave at once, and the engine calls
//!   `Process::on_durable(token)` when the write is durable.
//! - The disk does one write at a time, in order. Writes made while one is in
//!   flight join the next (group commit): at most one write is in flight and
//!   one waits, so a disk holds at most two copies of the durable state.
//! - A crash loses every write not yet durable: the node restarts from the
//!   state as of the last completed write. Messages and reports waiting on a
//!   lost write are never sent, and its callbacks never run.
//!
//! Torn writes are not modelled: a write is durable whole or not at all.

use std::collections::VecDeque;

use serde::Serialize;

use crate::process::Addr;
use crate::rng::{Latency, SimRng};
use crate::time::Time;

/// How long a node's disk takes to make a write durable (write and fsync).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DiskConfig {
    pub latency: Latency,
}

/// One write on its way to the platter: the durable state it will leave,
/// the messages waiting for it and the callbacks it owes.
struct Op<D, M, T> {
    seq: u64,
    done: Time,
    state: D,
    /// Whether a synchronous write is part of it: then the node's messages
    /// wait for it.
    sync: bool,
    sends: Vec<(Addr, M)>,
    notes: Vec<T>,
    tokens: Vec<u64>,
}

/// A completed write: what the engine must now send, report and call back.
pub(crate) struct Completed<M, T> {
    pub(crate) sends: Vec<(Addr, M)>,
    pub(crate) notes: Vec<T>,
    pub(crate) tokens: Vec<u64>,
}

/// Where a node's output waits for a synchronous write.
pub(crate) struct Held<'a, M, T> {
    pub(crate) sends: &'a mut Vec<(Addr, M)>,
    pub(crate) notes: &'a mut Vec<T>,
}

pub(crate) struct Disk<D, M, T> {
    latency: Latency,
    /// The slow-disk faults in force (applied fault id, factor): each
    /// multiplies the latency of writes started while it holds.
    pub(crate) slowdowns: Vec<(usize, f64)>,
    rng: SimRng,
    /// The durable state as of the last completed write: what a crash now
    /// would leave.
    synced: D,
    /// The write in flight, then the one waiting for it (at most two).
    ops: VecDeque<Op<D, M, T>>,
    next_seq: u64,
}

impl<D: Clone, M, T> Disk<D, M, T> {
    pub(crate) fn new(config: &DiskConfig, rng: SimRng, synced: D) -> Disk<D, M, T> {
        Disk { latency: config.latency.clone(), slowdowns: Vec::new(), rng, synced, ops: VecDeque::new(), next_seq: 0 }
    }

    /// Records a write of `state` made at `now`. Returns the (completion
    /// time, sequence number) of a newly started or queued write, which the
    /// engine schedules; `None` when the write joined the one waiting.
    pub(crate) fn write(&mut self, now: Time, state: &D, sync: bool, tokens: &mut Vec<u64>) -> Option<(Time, u64)> {
        if self.ops.len() >= 2 {
            if let Some(waiting) = self.ops.back_mut() {
                waiting.state = state.clone();
                waiting.sync |= sync;
                waiting.tokens.append(tokens);
            }
            return None;
        }
        let start = self.ops.back().map_or(now, |op| op.done);
        let mut latency = self.latency.sample(&mut self.rng);
        for &(_, factor) in &self.slowdowns {
            latency = latency.mul_f64(factor);
        }
        let done = start + latency;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.ops.push_back(Op {
            seq,
            done,
            state: state.clone(),
            sync,
            sends: Vec::new(),
            notes: Vec::new(),
            tokens: std::mem::take(tokens),
        });
        Some((done, seq))
    }

    /// Where the node's outgoing messages and reports must wait: the latest
    /// write in flight or waiting that holds a synchronous write.
    pub(crate) fn send_barrier(&mut self) -> Option<Held<'_, M, T>> {
        self.ops.iter_mut().rev().find(|op| op.sync).map(|op| Held { sends: &mut op.sends, notes: &mut op.notes })
    }

    /// Ends write `seq`; `None` if it was lost to a crash.
    pub(crate) fn complete(&mut self, seq: u64) -> Option<Completed<M, T>> {
        if self.ops.front().map(|op| op.seq) != Some(seq) {
            return None;
        }
        let op = self.ops.pop_front()?;
        self.synced = op.state;
        Some(Completed { sends: op.sends, notes: op.notes, tokens: op.tokens })
    }

    /// A crash: every write not yet durable is dropped. Returns how many
    /// writes were lost and the state the node restarts from, if it differs
    /// from what the node had written.
    pub(crate) fn crash(&mut self) -> (usize, Option<D>) {
        let lost = self.ops.len();
        self.ops.clear();
        (lost, (lost > 0).then(|| self.synced.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, Stream};
    use crate::time::Duration;

    fn disk(ms: u64) -> Disk<u32, &'static str, ()> {
        let config = DiskConfig { latency: Latency::Constant { value: Duration::from_millis(ms) } };
        Disk::new(&config, stream(1, Stream::Disk(0)), 0)
    }

    fn at(ms: u64) -> Time {
        Time::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn writes_complete_in_order_one_at_a_time() {
        let mut d = disk(10);
        assert_eq!(d.write(at(0), &1, true, &mut Vec::new()), Some((at(10), 0)));
        // The second waits for the first.
        assert_eq!(d.write(at(2), &2, true, &mut Vec::new()), Some((at(20), 1)));
        // A third joins the waiting one (group commit).
        assert_eq!(d.write(at(3), &3, true, &mut Vec::new()), None);
        assert!(d.complete(1).is_none(), "out of order");
        assert!(d.complete(0).is_some());
        assert_eq!(d.synced, 1);
        assert!(d.complete(1).is_some());
        assert_eq!(d.synced, 3);
    }

    #[test]
    fn a_crash_keeps_only_completed_writes() {
        let mut d = disk(10);
        d.write(at(0), &1, true, &mut Vec::new());
        d.complete(0);
        d.write(at(11), &2, true, &mut Vec::new());
        assert_eq!(d.crash(), (1, Some(1)));
        assert!(d.complete(1).is_none(), "a lost write never completes");
        assert_eq!(d.crash(), (0, None));
    }

    #[test]
    fn messages_wait_for_the_latest_synchronous_write() {
        let mut d = disk(10);
        assert!(d.send_barrier().is_none());
        d.write(at(0), &1, true, &mut Vec::new());
        d.write(at(1), &2, false, &mut vec![7]);
        d.send_barrier().unwrap().sends.push((Addr::node(1), "after"));
        let first = d.complete(0).unwrap();
        assert_eq!(first.sends.len(), 1, "held by the synchronous write, not the async one after it");
        let second = d.complete(1).unwrap();
        assert_eq!(second.tokens, vec![7]);
    }
}
