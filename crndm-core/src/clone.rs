//! `PClone`: cloning inside a transaction (a clone of a persistent pointer allocates).

use crate::stm::journal::Journal;
use crate::stm::pool_type::MemPool;

/// The persistent analogue of `Clone`: `pclone(j)` may allocate in the transaction.
///
/// Implemented for the primitive types, `Option`, arrays and tuples of `PClone` types,
/// and crndm's persistent types.
pub trait PClone<P: MemPool>: Sized {
    /// A copy of `self`, made in transaction `j`.
    fn pclone(&self, j: &Journal<P>) -> Self;
}

macro_rules! pclone_copy {
    ($($t:ty),*) => {$(
        impl<P: MemPool> PClone<P> for $t {
            #[inline]
            fn pclone(&self, _: &Journal<P>) -> Self {
                *self
            }
        }
    )*};
}
pclone_copy!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64
);

impl<T: PClone<P>, P: MemPool> PClone<P> for Option<T> {
    fn pclone(&self, j: &Journal<P>) -> Self {
        self.as_ref().map(|v| v.pclone(j))
    }
}

impl<T: PClone<P>, P: MemPool, const N: usize> PClone<P> for [T; N] {
    fn pclone(&self, j: &Journal<P>) -> Self {
        std::array::from_fn(|i| self[i].pclone(j))
    }
}

macro_rules! pclone_tuple {
    ($($n:tt $t:ident),+) => {
        impl<P: MemPool, $($t: PClone<P>),+> PClone<P> for ($($t,)+) {
            fn pclone(&self, j: &Journal<P>) -> Self {
                ($(self.$n.pclone(j),)+)
            }
        }
    };
}
pclone_tuple!(0 A);
pclone_tuple!(0 A, 1 B);
pclone_tuple!(0 A, 1 B, 2 C);
pclone_tuple!(0 A, 1 B, 2 C, 3 D);
