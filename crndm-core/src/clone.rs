//! `PClone`: cloning inside a transaction (a clone of a persistent pointer allocates).
//! (`ToPString`, which makes a persistent string, lives with `PString`.)

use crate::stm::journal::Journal;
use crate::stm::pool_type::PoolType;

/// The persistent analogue of `Clone`: `pclone(j)` may allocate in the transaction.
///
/// Implemented for the primitive types, `Option`, `Result`, arrays and tuples of
/// `PClone` types, a few std value types (`PhantomData`, `Wrapping`, `Reverse`,
/// `Duration`, `Ordering`, the `NonZero` integers), and crndm's persistent types and
/// collections. `#[derive(PClone)]` implements it for a struct or enum whose fields
/// are all `PClone`.
///
/// ```
/// # fn main() -> crndm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use crndm::default::*;
/// #[derive(PClone, RootLayout)]
/// struct Item {
///     name: PString,
///     tags: PVec<u32>,
/// }
/// let root = BuddyAlloc::open::<PRefCell<PVec<Item>>>(dir.path().join("c.pool"), O_CF)?;
/// BuddyAlloc::transaction(|j| {
///     let first = Item { name: "a".to_pstring(j), tags: PVec::from_slice(&[1, 2], j) };
///     let copy = first.pclone(j);
///     let mut items = root.borrow_mut(j);
///     items.push(first, j);
///     items.push(copy, j);
/// })?;
/// assert_eq!(root.borrow()[1].tags, [1, 2]);
/// # Ok(())
/// # }
/// ```
pub trait PClone<P: PoolType>: Sized {
    /// A copy of `self`, made in transaction `j`.
    fn pclone(&self, j: &Journal<P>) -> Self;
}

macro_rules! pclone_copy {
    ($($t:ty),*) => {$(
        impl<P: PoolType> PClone<P> for $t {
            #[inline]
            fn pclone(&self, _: &Journal<P>) -> Self {
                *self
            }
        }
    )*};
}
pclone_copy!(
    (),
    std::cmp::Ordering,
    std::time::Duration,
    std::num::NonZeroU8,
    std::num::NonZeroU16,
    std::num::NonZeroU32,
    std::num::NonZeroU64,
    std::num::NonZeroU128,
    std::num::NonZeroUsize,
    std::num::NonZeroI8,
    std::num::NonZeroI16,
    std::num::NonZeroI32,
    std::num::NonZeroI64,
    std::num::NonZeroI128,
    std::num::NonZeroIsize,
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

impl<T: PClone<P>, P: PoolType> PClone<P> for Option<T> {
    fn pclone(&self, j: &Journal<P>) -> Self {
        let _poison = j.poison_on_unwind();
        self.as_ref().map(|v| v.pclone(j))
    }
}

impl<T: PClone<P>, E: PClone<P>, P: PoolType> PClone<P> for Result<T, E> {
    fn pclone(&self, j: &Journal<P>) -> Self {
        let _poison = j.poison_on_unwind();
        match self {
            Ok(v) => Ok(v.pclone(j)),
            Err(e) => Err(e.pclone(j)),
        }
    }
}

impl<T: ?Sized, P: PoolType> PClone<P> for std::marker::PhantomData<T> {
    fn pclone(&self, _: &Journal<P>) -> Self {
        std::marker::PhantomData
    }
}

impl<T: PClone<P>, P: PoolType> PClone<P> for std::num::Wrapping<T> {
    fn pclone(&self, j: &Journal<P>) -> Self {
        let _poison = j.poison_on_unwind();
        std::num::Wrapping(self.0.pclone(j))
    }
}

impl<T: PClone<P>, P: PoolType> PClone<P> for std::cmp::Reverse<T> {
    fn pclone(&self, j: &Journal<P>) -> Self {
        let _poison = j.poison_on_unwind();
        std::cmp::Reverse(self.0.pclone(j))
    }
}

impl<T: PClone<P>, P: PoolType, const N: usize> PClone<P> for [T; N] {
    fn pclone(&self, j: &Journal<P>) -> Self {
        let _poison = j.poison_on_unwind();
        std::array::from_fn(|i| self[i].pclone(j))
    }
}

macro_rules! pclone_tuple {
    ($($n:tt $t:ident),+) => {
        impl<P: PoolType, $($t: PClone<P>),+> PClone<P> for ($($t,)+) {
            fn pclone(&self, j: &Journal<P>) -> Self {
                let _poison = j.poison_on_unwind();
                ($(self.$n.pclone(j),)+)
            }
        }
    };
}
pclone_tuple!(0 A);
pclone_tuple!(0 A, 1 B);
pclone_tuple!(0 A, 1 B, 2 C);
pclone_tuple!(0 A, 1 B, 2 C, 3 D);
pclone_tuple!(0 A, 1 B, 2 C, 3 D, 4 E);
pclone_tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F);
pclone_tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G);
pclone_tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H);
