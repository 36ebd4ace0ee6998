//! Persistent cells: interior mutability that logs before it changes PM.
//!
//! | cell | like | access | change |
//! |---|---|---|---|
//! | [`PCell<T,P>`] (`LogCell`) | `Cell` | `get()` (copy out) | `set(v, j)`, `replace(v, j)`, `take(j)` |
//! | [`PRefCell<T,P>`] (`LogRefCell`) | `RefCell` | `borrow()` | `borrow_mut(j)` |
//! | [`VCell<T,P>`] | — | `Deref` | volatile: reset to `Default` on each open, never logged |

mod pcell;
mod prefcell;
mod vcell;

pub use pcell::PCell;
pub use prefcell::{PRefCell, Ref, RefMut};
pub use vcell::VCell;

/// Another name for [`PCell`].
pub type LogCell<T, P> = PCell<T, P>;
/// Another name for [`PRefCell`].
pub type LogRefCell<T, P> = PRefCell<T, P>;
