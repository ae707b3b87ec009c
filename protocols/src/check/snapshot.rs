//! Snapshots checked against the log they stand for, the same way for every
//! protocol that compacts a log: a snapshot (taken, or installed from a
//! peer) claims that the log up to `index` ends in an entry of `term` with
//! prefix hash `chain`, and that applying that prefix gives a state whose
//! digest is `state`. The monitor holds what the cluster committed and
//! applied at each index, so each claim can be held against it.

/// What a node says its snapshot covers.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SnapshotClaim {
    pub index: u64,
    pub term: u64,
    pub chain: u64,
    pub state: u64,
}

/// What the cluster is known to hold at one index: the committed entry's
/// term and prefix hash, and the digest of the state after applying it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownAt {
    pub committed: Option<(u64, u64)>,
    pub applied_state: Option<u64>,
}

/// Why a claim contradicts what is known, if it does. A fact not known (an
/// index no node reported, or history already forgotten) is not held against
/// the claim.
pub fn contradiction(claim: &SnapshotClaim, known: &KnownAt) -> Option<String> {
    let SnapshotClaim { index, term, chain, state } = *claim;
    if let Some((c_term, c_chain)) = known.committed {
        if c_term != term {
            return Some(format!(
                "it records term {term} at index {index}, where the committed entry has term {c_term}"
            ));
        }
        if c_chain != chain {
            return Some(format!("it covers a log up to index {index} other than the committed one"));
        }
    }
    match known.applied_state {
        Some(applied) if applied != state => Some(format!(
            "its state (digest {state:016x}) is not the state the log up to index {index} gives (digest {applied:016x})"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_agreeing_with_the_log_passes_and_each_wrong_part_is_named() {
        let known = KnownAt { committed: Some((3, 77)), applied_state: Some(5) };
        let claim = SnapshotClaim { index: 10, term: 3, chain: 77, state: 5 };
        assert_eq!(contradiction(&claim, &known), None);
        let wrong_term = contradiction(&SnapshotClaim { term: 4, ..claim }, &known).unwrap();
        assert!(wrong_term.contains("term 4") && wrong_term.contains("term 3"), "{wrong_term}");
        assert!(contradiction(&SnapshotClaim { chain: 1, ..claim }, &known).unwrap().contains("other than"));
        assert!(contradiction(&SnapshotClaim { state: 6, ..claim }, &known).unwrap().contains("digest"));
        // Nothing known: nothing to contradict.
        assert_eq!(contradiction(&SnapshotClaim { term: 9, ..claim }, &KnownAt::default()), None);
    }
}
