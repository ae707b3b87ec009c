//! The online check `register_monotonic`: a replica only ever replaces a
//! register with one of a higher tag, and keeps it across crashes. ABD's
//! proof rests on it — a majority that stored a tag keeps holding it or a
//! higher one — so a node that forgot its registers in a crash (state kept
//! in memory instead of `ctx.durable_mut()`) would fail here.

use std::collections::BTreeMap;

use faultline::protocols::kv::Key;
use faultline::sim::world::{Monitor, Violation};
use faultline::sim::{NodeId, Time};

use crate::node::{AbdNode, Stored, Tag};

/// The last tag each node reported storing, per key: at most nodes × keys entries.
#[derive(Default)]
pub struct RegisterMonotonic {
    last: BTreeMap<(u32, Key), Tag>,
}

impl Monitor<AbdNode> for RegisterMonotonic {
    fn on_note(&mut self, now: Time, node: NodeId, note: &Stored) -> Option<Violation> {
        let last = self.last.entry((node.0, note.key)).or_default();
        if note.tag <= *last {
            return Some(Violation {
                check: "register_monotonic".into(),
                at: now,
                nodes: vec![node],
                message: format!(
                    "{node} stored key {} at tag {:?}, not above the {:?} it held",
                    note.key, note.tag, last
                ),
            });
        }
        *last = note.tag;
        None
    }
}
