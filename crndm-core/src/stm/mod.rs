//! The stm layer (docs/ARCHITECTURE.md): transactions (DESIGN §7).
//!
//! [`lane`] is the on-media format of a journal's log (records, epochs, invariants L1–L4);
//! [`journal`] the journal of a running transaction and its persistence order;
//! [`recovery`] brings every lane to a clean state at open; [`truncations`] remembers
//! the truncations redo commits left unflushed; [`locks`] holds the
//! object locks kept until a transaction ends; [`open`] is a pool opened,
//! recovered and holding its table of free lanes; [`leaks`] the reachability scan
//! of an open pool, taken while no transaction runs; [`tx`] runs a transaction body;
//! [`pool_type`] the `PoolType` trait (the lower half of `MemPool`) that ties a pool type
//! to an open pool.

pub(crate) mod journal;
pub(crate) mod lane;
pub(crate) mod leaks;
pub(crate) mod locks;
pub(crate) mod open;
pub(crate) mod placement;
pub(crate) mod pool_type;
pub(crate) mod recovery;
pub(crate) mod truncations;
pub(crate) mod tx;
