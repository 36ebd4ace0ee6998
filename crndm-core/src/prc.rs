//! The weak pointers of [`Prc`](crate::Prc): [`PWeak`] (persistent) and [`VWeak`]
//! (volatile).

pub use crate::rc::{PWeak, VWeak};
