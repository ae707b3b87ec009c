//! What every client-driving protocol shares: the [`envelope::Envelope`]
//! that carries client requests and replies beside the protocol's own
//! messages, the [`routing`] policies that pick which node an attempt goes
//! to, the consistent-hash [`ring`] behind one of them, and the load and
//! retry settings of a `[workload]` ([`load`]).

pub mod envelope;
pub mod load;
pub mod ring;
pub mod routing;

pub use envelope::{Envelope, NoPeer};
pub use load::{ClientLoad, LoadMode};
pub use routing::{AnyNode, ConsistentHash, LeaderRedirect, Routing, RoutingKind};
