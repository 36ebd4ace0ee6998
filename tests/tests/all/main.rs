//! The integration tests of crndm: one binary, one module per topic.
//!
//! Every test makes its own temporary directory and declares its own pool type(s) with
//! `crndm::pool!`, so the tests run in parallel in one process. Tests that need a second
//! process run an `#[ignore]`d `child_*` test of this same binary (see
//! `crndm_tests::child_command`). Tests whose expected outcome is not `Locked` open
//! pools through `crndm_tests::OpenUnlocked` and `crndm_tests::admin`, which retry a
//! spurious `Locked` caused by another test spawning a process
//! (`crndm_tests::retry_locked`).

mod collections_btree_map;
mod collections_common;
mod collections_hash_map;
mod collections_memory;
mod collections_pclone;
mod collections_string;
mod collections_vec;
mod corruption;
mod flags;
mod format_crash;
mod fragmentation;
mod fuzz;
mod leaks;
mod map_damage;
mod misuse;
mod modes;
mod multiprocess;
mod options;
mod out_of_space;
mod placement;
mod poison;
mod pool_types;
mod reopen;
mod root_identity;
mod root_pointers;
mod shared;
mod stash;
mod transactions;
mod tx_crash;
