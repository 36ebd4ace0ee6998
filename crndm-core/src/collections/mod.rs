//! Persistent collections: [`PVec`], [`PString`], [`PHashMap`] and [`PBTreeMap`].
//!
//! Each looks like its std counterpart, lives wherever it is put (in the root, in a
//! [`Pbox`](crate::Pbox), inside another collection) and keeps its elements in blocks
//! of the pool. Reading needs nothing; every method that changes the pool takes the
//! journal `j` of a transaction and logs what it changes first, down to the element:
//! elements shifted by `insert`/`remove`, the length, the buffer pointer.
//!
//! | collection | like | layout |
//! |---|---|---|
//! | [`PVec<T,P>`] | `Vec<T>` | `{buf, cap, len}` + one buffer block |
//! | [`PString<P>`] | `String` | `{buf, cap, len}` + one buffer block of UTF-8 |
//! | [`PHashMap<K,V,P>`] | `HashMap<K,V>` | `{table, cap, len}` + one table block, open addressing, [`PHash`] |
//! | [`PBTreeMap<K,V,P>`] | `BTreeMap<K,V>` | `{root, height, len}` + B-tree nodes of 11 entries |
//!
//! # Crash consistency
//! A change of bytes that already hold data is undo-logged before it is made; bytes
//! that hold nothing (past the length, in a block allocated by this transaction) are
//! only remembered, to be flushed at commit. Growth never moves data in place: a new
//! block is allocated and filled, the pointer to it is logged and swapped, and the old
//! block is freed after commit. A crash or a panic at any point leaves the collection
//! as it was when the transaction began. What counts as "already holding data" is
//! decided by the state at the start of the transaction, not the current one: a slot
//! popped and pushed again in one transaction is logged (see `raw`).
//!
//! # Dropping
//! Elements removed by `remove`, `clear`, `truncate`, or the drop of the collection
//! inside a transaction are dropped (their own persistent pointers are freed after
//! commit), and the blocks that held them are freed after commit. Elements are moved
//! out of the pool before they are dropped, so a `Drop` impl never changes pool bytes
//! behind the journal's back. A collection dropped outside a transaction (which safe
//! code cannot do with one that owns pool memory) leaks its blocks instead.
//!
//! The byte-level work (buffers, hash tables, B-tree nodes) is in non-generic raw
//! cores with the unsafe code (`raw`, `raw_table`, `raw_btree`); the public types are
//! thin typed shells over them.

pub mod btree_map;
mod hash;
pub mod hash_map;
mod raw;
mod raw_btree;
mod raw_table;
mod string;
mod vec;

pub use btree_map::PBTreeMap;
pub use hash::{PHash, PHasher};
pub use hash_map::PHashMap;
pub use string::{PString, ToPString};
pub use vec::PVec;
