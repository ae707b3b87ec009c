//! The replicated log, with its prefix compacted into a snapshot.
//!
//! Indices start at 1; index 0 is the empty log. Each entry also carries a
//! local *chain hash* — a hash of the whole log prefix up to it — which the
//! invariant monitor compares across nodes to check Log Matching and
//! State Machine Safety without looking inside any node.

use std::sync::Arc;

use faultline_sim::rng::mix64;
use faultline_sim::trace::stable_hash;

use crate::kv::{KvStore, Request};

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum LogCommand {
    /// Appended by a new leader to commit entries of earlier terms (§8).
    Noop,
    Client(Request),
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Entry {
    pub term: u64,
    pub command: LogCommand,
}

/// A state-machine snapshot covering the log up to `last_index`.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Snapshot {
    pub last_index: u64,
    pub last_term: u64,
    /// Chain hash of the prefix the snapshot covers.
    pub chain: u64,
    pub store: KvStore,
}

#[derive(Clone, Debug, Default)]
pub struct RaftLog {
    snapshot: Option<Arc<Snapshot>>,
    entries: Vec<Entry>,
    chains: Vec<u64>,
}

/// The chain hash of the prefix ending in `entry`, given the prefix before it.
pub fn chain(previous: u64, entry: &Entry) -> u64 {
    mix64(previous ^ stable_hash(entry))
}

impl RaftLog {
    /// The last index the snapshot covers (0 without one).
    pub fn base_index(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |s| s.last_index)
    }
    fn base_term(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |s| s.last_term)
    }
    fn base_chain(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |s| s.chain)
    }
    pub fn snapshot(&self) -> Option<&Arc<Snapshot>> {
        self.snapshot.as_ref()
    }
    pub fn last_index(&self) -> u64 {
        self.base_index() + self.entries.len() as u64
    }
    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.base_term(), |e| e.term)
    }
    /// Entries held in memory (not compacted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn offset(&self, index: u64) -> Option<usize> {
        let base = self.base_index();
        (index > base && index <= self.last_index()).then(|| (index - base - 1) as usize)
    }

    /// The term at `index`; `None` when it is beyond the log or compacted
    /// away (other than the snapshot's own last index).
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.base_index() {
            return Some(self.base_term());
        }
        self.offset(index).map(|o| self.entries[o].term)
    }

    pub fn chain_at(&self, index: u64) -> Option<u64> {
        if index == self.base_index() {
            return Some(self.base_chain());
        }
        self.offset(index).map(|o| self.chains[o])
    }

    pub fn entry(&self, index: u64) -> Option<&Entry> {
        self.offset(index).map(|o| &self.entries[o])
    }

    /// Appends one entry; returns its index and chain hash.
    pub fn append(&mut self, entry: Entry) -> (u64, u64) {
        let c = chain(self.chain_at(self.last_index()).unwrap_or(0), &entry);
        self.entries.push(entry);
        self.chains.push(c);
        (self.last_index(), c)
    }

    /// Removes every entry from `index` on.
    pub fn truncate_from(&mut self, index: u64) {
        let base = self.base_index();
        let keep = index.saturating_sub(base + 1) as usize;
        self.entries.truncate(keep);
        self.chains.truncate(keep);
    }

    /// Up to `max` entries starting at `index`.
    pub fn entries_from(&self, index: u64, max: usize) -> Vec<Entry> {
        match self.offset(index) {
            Some(o) => self.entries[o..(o + max).min(self.entries.len())].to_vec(),
            None => Vec::new(),
        }
    }

    /// First index holding `term`, scanning back from `from`.
    pub fn first_index_of_term(&self, term: u64, from: u64) -> u64 {
        let mut i = from;
        while i > self.base_index() + 1 && self.term_at(i - 1) == Some(term) {
            i -= 1;
        }
        i
    }

    /// Last index holding `term`, if any entry has it.
    pub fn last_index_of_term(&self, term: u64) -> Option<u64> {
        (self.base_index() + 1..=self.last_index()).rev().find(|&i| self.term_at(i) == Some(term))
    }

    /// Replaces the prefix up to `index` (applied, so committed) with a
    /// snapshot of `store`.
    pub fn compact(&mut self, index: u64, store: KvStore) {
        let (Some(term), Some(chain)) = (self.term_at(index), self.chain_at(index)) else { return };
        let drop = (index - self.base_index()) as usize;
        self.entries.drain(..drop);
        self.chains.drain(..drop);
        self.snapshot = Some(Arc::new(Snapshot { last_index: index, last_term: term, chain, store }));
    }

    /// Installs a leader's snapshot: entries after it are kept only if the
    /// log agrees with the snapshot at its last index (§7).
    pub fn install(&mut self, snapshot: Arc<Snapshot>) {
        let index = snapshot.last_index;
        if self.term_at(index) == Some(snapshot.last_term) && index <= self.last_index() {
            let drop = (index - self.base_index()) as usize;
            self.entries.drain(..drop);
            self.chains.drain(..drop);
        } else {
            self.entries.clear();
            self.chains.clear();
        }
        self.snapshot = Some(snapshot);
    }

    /// (term, chain) of every entry after the snapshot, for the monitor.
    pub fn digest(&self) -> Vec<(u64, u64)> {
        self.entries.iter().zip(&self.chains).map(|(e, c)| (e.term, *c)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{Command, OpId};

    fn entry(term: u64, seq: u64) -> Entry {
        let op = OpId { client: 0, seq };
        Entry { term, command: LogCommand::Client(Request::new(op, Command::Get { key: seq }, 0)) }
    }

    fn log_of(terms: &[u64]) -> RaftLog {
        let mut log = RaftLog::default();
        for (i, &t) in terms.iter().enumerate() {
            log.append(entry(t, i as u64));
        }
        log
    }

    #[test]
    fn terms_and_bounds() {
        let log = log_of(&[1, 1, 2, 3]);
        let cases = [(0, Some(0)), (1, Some(1)), (3, Some(2)), (4, Some(3)), (5, None)];
        for (index, term) in cases {
            assert_eq!(log.term_at(index), term, "index {index}");
        }
        assert_eq!((log.last_index(), log.last_term()), (4, 3));
    }

    /// Log Matching (§5.3): equal entries at equal indices give equal chain
    /// hashes; a different entry anywhere before changes every later hash.
    #[test]
    fn chain_hashes_cover_the_whole_prefix() {
        let a = log_of(&[1, 1, 2, 2]);
        let b = log_of(&[1, 1, 2, 2]);
        let mut c = log_of(&[1, 2]);
        c.append(entry(2, 2));
        c.append(entry(2, 3));
        assert_eq!(a.chain_at(4), b.chain_at(4));
        assert_ne!(a.chain_at(4), c.chain_at(4), "same last entry, different prefix");
    }

    /// The conflict hint of the fast back-off (§5.3): the first index of the
    /// conflicting term, and the leader's last index of a term.
    #[test]
    fn conflict_hints() {
        let log = log_of(&[1, 1, 4, 4, 4, 5]);
        let cases = [(4, 5, 3), (4, 3, 3), (1, 2, 1), (5, 6, 6)];
        for (term, from, first) in cases {
            assert_eq!(log.first_index_of_term(term, from), first, "term {term} from {from}");
        }
        assert_eq!(log.last_index_of_term(4), Some(5));
        assert_eq!(log.last_index_of_term(2), None);
    }

    #[test]
    fn truncation_removes_the_suffix_only() {
        let mut log = log_of(&[1, 1, 2, 3]);
        let chain2 = log.chain_at(2);
        log.truncate_from(3);
        assert_eq!(log.last_index(), 2);
        assert_eq!(log.chain_at(2), chain2);
    }

    /// Compaction (§7) keeps terms and chains at and after the snapshot.
    #[test]
    fn compaction_and_installation() {
        let mut log = log_of(&[1, 1, 2, 2, 3]);
        let chain5 = log.chain_at(5);
        log.compact(3, KvStore::default());
        assert_eq!(log.base_index(), 3);
        assert_eq!(log.term_at(3), Some(2));
        assert_eq!(log.term_at(2), None, "compacted away");
        assert_eq!(log.entries_from(4, 10).len(), 2);
        assert_eq!(log.chain_at(5), chain5);

        // A snapshot that agrees with the log keeps the entries after it.
        let snap = log.snapshot().cloned().unwrap();
        let mut follower = log_of(&[1, 1, 2, 2, 3]);
        follower.install(snap.clone());
        assert_eq!(follower.last_index(), 5);
        // One that disagrees discards the whole log.
        let mut divergent = log_of(&[1, 1, 9, 9, 9, 9]);
        divergent.install(snap);
        assert_eq!((divergent.base_index(), divergent.last_index()), (3, 3));
    }
}
