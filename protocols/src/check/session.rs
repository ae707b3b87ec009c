//! ZooKeeper's promises to a client session, checked exactly from the
//! positions the service tags its answers with ([`Operation::at`]: the zxid
//! the serving server had delivered, ZooKeeper's 64-bit packing of epoch and
//! counter, so comparing numbers compares zxids).
//!
//! ZooKeeper's reads are served by whichever server holds the session, from
//! its own copy, so they may be stale: its guarantee is sequential
//! consistency, not linearizability (ZooKeeper Programmer's Guide,
//! "ZooKeeper consistency guarantees"). What it does promise, and what this
//! checks:
//!
//! - **session order**: a session never goes back. An operation that began
//!   after another of the same client completed is answered at the same
//!   zxid or a later one, across reconnects to other servers;
//! - **read your writes** (the case of the above where the earlier
//!   operation was the client's own write): a read sees the zxid of every
//!   write of its session that completed before it began;
//! - **sync**: a read after `sync` is answered at a zxid no earlier than
//!   that of every write, of any client, that completed before it began.
//!
//! That every answer is the state after some *committed* zxid is checked
//! online, by the protocol's monitor, which knows the commit order. Whether
//! reads are linearizable as well is measured, not required.

pub use super::history::{pack, zxid_text};
use super::history::{OpKind, Operation, Outcome};

/// What the check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionVerdict {
    /// Every promise held over `ops` tagged operations, `sync_reads` of
    /// them reads after a sync.
    Held { ops: usize, sync_reads: usize },
    /// Some completed operations carry no position, so the promises cannot
    /// be checked for them.
    Unknown { reason: String },
    /// A promise broken: which, by which operation (an index into the
    /// input), and why.
    Broken { promise: &'static str, op: usize, message: String },
}

fn is_write(kind: &OpKind) -> bool {
    !matches!(kind, OpKind::Get { .. })
}

/// Checks session order, read-your-writes and sync over `ops` (any order).
pub fn check(ops: &[Operation]) -> SessionVerdict {
    let completed =
        |o: &&Operation| o.complete_ns.is_some() && !matches!(o.outcome, Outcome::Unknown | Outcome::Failed);
    let untagged = ops.iter().filter(completed).filter(|o| o.at.is_none()).count();
    if untagged > 0 {
        return SessionVerdict::Unknown {
            reason: format!("{untagged} completed operations carry no zxid: the service does not tag its answers"),
        };
    }
    // Tagged operations by completion time: (complete, at, index).
    let mut done: Vec<(u64, u64, usize)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, o)| Some((o.complete_ns?, o.at?, i)))
        .filter(|&(_, _, i)| completed(&&ops[i]))
        .collect();
    done.sort_unstable();
    // Tagged operations by invocation time.
    let mut started: Vec<usize> = done.iter().map(|&(_, _, i)| i).collect();
    started.sort_unstable_by_key(|&i| (ops[i].invoke_ns, i));

    // Session order and read-your-writes: per client, the highest zxid
    // among its operations completed before each one began.
    let mut best: std::collections::BTreeMap<u32, (u64, usize)> = Default::default();
    // Sync: the highest zxid among all writes completed before.
    let mut best_write: Option<(u64, usize)> = None;
    let mut next = 0;
    let mut sync_reads = 0;
    for &i in &started {
        let op = &ops[i];
        while next < done.len() && done[next].0 < op.invoke_ns {
            let (_, at, j) = done[next];
            let earlier = &ops[j];
            let entry = best.entry(earlier.client).or_insert((at, j));
            if at > entry.0 {
                *entry = (at, j);
            }
            if is_write(&earlier.kind) && best_write.is_none_or(|(b, _)| at > b) {
                best_write = Some((at, j));
            }
            next += 1;
        }
        let Some(at) = op.at else { continue };
        if let Some(&(seen, j)) = best.get(&op.client) {
            if at < seen {
                let earlier = &ops[j];
                let promise =
                    if is_write(&earlier.kind) && !is_write(&op.kind) { "read_your_writes" } else { "session_order" };
                return SessionVerdict::Broken {
                    promise,
                    op: i,
                    message: format!(
                        "client {} was answered at zxid {} after it had been answered at zxid {}: {op} began after \
                         {earlier} completed",
                        op.client,
                        zxid_text(at),
                        zxid_text(seen),
                    ),
                };
            }
        }
        if op.sync {
            sync_reads += 1;
            if let Some((w, j)) = best_write.filter(|&(w, _)| at < w) {
                return SessionVerdict::Broken {
                    promise: "sync",
                    op: i,
                    message: format!(
                        "a read after sync was answered at zxid {}, before the write at zxid {} that completed \
                         before it began: {op}; the write: {}",
                        zxid_text(at),
                        zxid_text(w),
                        ops[j]
                    ),
                };
            }
        }
    }
    SessionVerdict::Held { ops: done.len(), sync_reads }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(client: u32, invoke: u64, complete: u64, kind: OpKind, outcome: Outcome, at: u64) -> Operation {
        Operation { client, invoke_ns: invoke, complete_ns: Some(complete), kind, outcome, at: Some(at), sync: false }
    }
    fn put(client: u32, invoke: u64, complete: u64, at: u64) -> Operation {
        op(client, invoke, complete, OpKind::Put { key: 1, value: at }, Outcome::Written, at)
    }
    fn get(client: u32, invoke: u64, complete: u64, at: u64) -> Operation {
        op(client, invoke, complete, OpKind::Get { key: 1 }, Outcome::Read { value: None }, at)
    }
    fn synced(mut o: Operation) -> Operation {
        o.sync = true;
        o
    }

    #[test]
    fn zxids_pack_as_zookeeper_does() {
        assert_eq!(pack(1, 0), 1 << 32);
        assert!(pack(2, 0) > pack(1, u64::from(u32::MAX)));
        assert_eq!(zxid_text(pack(3, 17)), "(3, 17)");
    }

    #[test]
    fn a_stale_read_of_another_session_is_allowed() {
        // Client 2 reads at zxid 1 after client 1's write at zxid 2
        // completed: stale, but ZooKeeper allows it without a sync.
        let ops = [put(1, 0, 10, pack(1, 2)), get(2, 20, 25, pack(1, 1))];
        assert_eq!(check(&ops), SessionVerdict::Held { ops: 2, sync_reads: 0 });
    }

    #[test]
    fn reading_behind_ones_own_write_breaks_read_your_writes() {
        let ops = [put(1, 0, 10, pack(1, 2)), get(1, 20, 25, pack(1, 1))];
        let SessionVerdict::Broken { promise, op, .. } = check(&ops) else { panic!("{:?}", check(&ops)) };
        assert_eq!((promise, op), ("read_your_writes", 1));
    }

    #[test]
    fn a_session_that_goes_back_breaks_session_order() {
        let ops = [get(1, 0, 10, pack(2, 5)), get(1, 20, 25, pack(2, 4))];
        let SessionVerdict::Broken { promise, .. } = check(&ops) else { panic!() };
        assert_eq!(promise, "session_order");
        // Overlapping operations of one session are not ordered.
        let ops = [get(1, 0, 30, pack(2, 5)), get(1, 20, 25, pack(2, 4))];
        assert!(matches!(check(&ops), SessionVerdict::Held { .. }));
    }

    #[test]
    fn a_read_after_sync_must_see_every_completed_write() {
        let ops = [put(1, 0, 10, pack(1, 2)), synced(get(2, 20, 25, pack(1, 1)))];
        let SessionVerdict::Broken { promise, op, .. } = check(&ops) else { panic!() };
        assert_eq!((promise, op), ("sync", 1));
        let ops = [put(1, 0, 10, pack(1, 2)), synced(get(2, 20, 25, pack(1, 2)))];
        assert_eq!(check(&ops), SessionVerdict::Held { ops: 2, sync_reads: 1 });
        // A write still running when the sync began does not bind it.
        let ops = [put(1, 0, 22, pack(1, 2)), synced(get(2, 20, 25, pack(1, 1)))];
        assert!(matches!(check(&ops), SessionVerdict::Held { .. }));
    }

    #[test]
    fn untagged_answers_make_it_unknown_and_timeouts_are_ignored() {
        let mut o = put(1, 0, 10, 1);
        o.at = None;
        assert!(matches!(check(&[o]), SessionVerdict::Unknown { .. }));
        let lost = Operation {
            client: 1,
            invoke_ns: 0,
            complete_ns: None,
            kind: OpKind::Put { key: 1, value: 9 },
            outcome: Outcome::Unknown,
            at: None,
            sync: false,
        };
        assert_eq!(check(&[lost, get(1, 20, 25, 1)]), SessionVerdict::Held { ops: 1, sync_reads: 0 });
    }

    /// Agreement with the definition, applied pair by pair.
    #[test]
    fn agrees_with_the_pairwise_definition() {
        use rand::{Rng, SeedableRng};
        let mut rng = faultline_sim::SimRng::seed_from_u64(7);
        for _ in 0..2_000 {
            let n = rng.gen_range(1..8);
            let ops: Vec<Operation> = (0..n)
                .map(|_| {
                    let invoke = rng.gen_range(0..50);
                    let complete = invoke + rng.gen_range(0..20);
                    let at = rng.gen_range(1..6);
                    let client = rng.gen_range(0..3);
                    let o = if rng.gen_bool(0.5) {
                        put(client, invoke, complete, at)
                    } else {
                        get(client, invoke, complete, at)
                    };
                    if !is_write(&o.kind) && rng.gen_bool(0.3) {
                        synced(o)
                    } else {
                        o
                    }
                })
                .collect();
            let broken = ops.iter().any(|b| {
                ops.iter().any(|a| {
                    let before = a.complete_ns.is_some_and(|c| c < b.invoke_ns);
                    before && b.at < a.at && (a.client == b.client || (b.sync && is_write(&a.kind)))
                })
            });
            let verdict = check(&ops);
            assert_eq!(matches!(verdict, SessionVerdict::Broken { .. }), broken, "{ops:#?} {verdict:?}");
        }
    }
}
