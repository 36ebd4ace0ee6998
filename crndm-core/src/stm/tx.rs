//! Running a transaction: the journal registry of this thread (flat nesting, and the
//! journal `Drop` code finds), panic capture, commit and rollback.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, UnwindSafe, catch_unwind};

use crate::error::{Error, Result};
use crate::marker::{TxInSafe, TxOutSafe};
use crate::stm::journal::Journal;
use crate::stm::pool_type::PoolType;

/// One running transaction in this thread's registry: a node on the stack of its
/// [`run`] call, linked to the transaction it runs inside of (of another pool type, as
/// nesting within one pool type is flat).
struct Frame {
    /// The address of the pool type's slot (unique per pool type: PoolType safety (2)).
    key: usize,
    /// The `*const Journal<P>` of that pool type.
    journal: *const (),
    /// The frame of the enclosing transaction, or null.
    outer: *const Frame,
    /// The pool type's name, for [`Error::NestedPools`].
    pool: &'static str,
}

thread_local! {
    /// The innermost transaction running on this thread, or null. Every frame reachable
    /// from it lives on the stack of a [`run`] call that has not returned (R1, on
    /// [`Linked`]). A `Cell` of a pointer needs no destructor, so the access is a plain
    /// thread-local load, without the lazy-registration check a `Vec` would need.
    static ACTIVE: Cell<*const Frame> = const { Cell::new(std::ptr::null()) };
}

/// Keeps a frame linked as the innermost one while it lives.
///
/// **R1**: frames are linked and unlinked in LIFO order (each [`run`] call links its own
/// frame and unlinks it before it returns or unwinds, and the calls nest), so the list
/// from `ACTIVE` holds exactly the frames of the `run` calls still on the stack.
struct Linked<'f> {
    frame: &'f Frame,
}

impl<'f> Linked<'f> {
    #[inline]
    fn new(frame: &'f Frame) -> Linked<'f> {
        debug_assert_eq!(frame.outer, ACTIVE.get(), "R1: linked on top");
        ACTIVE.set(std::ptr::from_ref(frame));
        Linked { frame }
    }
}

impl Drop for Linked<'_> {
    #[inline]
    fn drop(&mut self) {
        debug_assert_eq!(ACTIVE.get(), std::ptr::from_ref(self.frame), "R1: LIFO");
        ACTIVE.set(self.frame.outer);
    }
}

fn key<P: PoolType>() -> usize {
    std::ptr::from_ref(P::__slot()) as usize
}

/// Calls `f` with the journal of the transaction of `P` running on this thread, if any.
#[inline]
pub(crate) fn with_current<P: PoolType, T>(f: impl FnOnce(Option<&Journal<P>>) -> T) -> T {
    let k = key::<P>();
    let mut frame = ACTIVE.get();
    while !frame.is_null() {
        // SAFETY: a frame reachable from `ACTIVE` is alive on the stack of a `run` call
        // that has not returned (R1), and nothing mutates it while it is linked.
        let fr = unsafe { &*frame };
        if fr.key == k {
            // Keys are unique per pool type (PoolType safety (2)); the frame was linked by
            // `run::<P>` for a journal on its stack. The borrow given to `f` ends before
            // `f` returns, inside that frame.
            // SAFETY: that journal lives until the frame is unlinked (R1), so the pointer
            // is a live `Journal<P>`.
            return f(Some(unsafe { &*fr.journal.cast::<Journal<P>>() }));
        }
        frame = fr.outer;
    }
    f(None)
}

/// Poisons `journal` if it is dropped during a panic: placed at crndm frames that run
/// user code or may panic inside a transaction, so that a panic crossing them aborts the
/// transaction even if the body catches it (see [`Journal::poison`]). It needs no panic
/// hook: the check is `std::thread::panicking()` in its drop, on the unwinding path only.
pub(crate) struct PoisonOnUnwind<'a, P: PoolType> {
    journal: &'a Journal<P>,
}

impl<'a, P: PoolType> PoisonOnUnwind<'a, P> {
    /// Guards the crndm frame it lives in for `journal`'s transaction.
    #[inline]
    pub(crate) fn new(journal: &'a Journal<P>) -> Self {
        PoisonOnUnwind { journal }
    }
}

impl<P: PoolType> Journal<P> {
    /// A [`PoisonOnUnwind`] guard for this transaction: the first line of every crndm
    /// method that runs user code (`Drop`, `PClone`, `Ord`/`Hash`/`Eq`, `Default`,
    /// closures) in a transaction.
    #[inline]
    pub(crate) fn poison_on_unwind(&self) -> PoisonOnUnwind<'_, P> {
        PoisonOnUnwind::new(self)
    }
}

impl<P: PoolType> Drop for PoisonOnUnwind<'_, P> {
    #[inline]
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.journal.poison();
        }
    }
}

/// The type name of the pool type of the innermost running transaction, if any.
fn innermost_pool() -> Option<&'static str> {
    let frame = ACTIVE.get();
    if frame.is_null() {
        return None;
    }
    // SAFETY: a frame reachable from `ACTIVE` is alive on the stack of a `run` call
    // that has not returned (R1), and nothing mutates it while it is linked.
    Some(unsafe { &*frame }.pool)
}

fn message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "the transaction body panicked".to_string()
    }
}

/// Runs `body` as a transaction of `P` (see [`MemPool::transaction`](crate::MemPool::transaction)).
///
/// # Errors
/// [`Error::NotOpen`]; [`Error::NestedPools`] inside a transaction of another pool
/// type; [`Error::Aborted`] if the body panicked or the transaction was poisoned.
///
/// # Panics
/// Only on a broken internal invariant (the flat-nesting bookkeeping).
pub(crate) fn run<P, F, R>(body: F) -> Result<R>
where
    P: PoolType,
    F: for<'j> FnOnce(&'j Journal<P>) -> R + TxInSafe + UnwindSafe,
    R: TxOutSafe,
{
    // Flat nesting: inside a transaction of P, the body joins it. A panic unwinds to
    // the outermost transaction, which rolls everything back.
    // A panic of the nested body poisons the whole transaction, even if the outer
    // body catches it.
    let mut body = Some(body);
    let nested = with_current::<P, _>(|j| {
        j.map(|j| {
            let _poison = PoisonOnUnwind::new(j);
            (body.take().expect("body unused"))(j)
        })
    });
    if let Some(r) = nested {
        return Ok(r);
    }
    let body = body.expect("not nested, so the body is unused");
    // Transactions of two pools cannot commit atomically together: refuse the inner
    // one before it writes anything; the outer one is unaffected.
    if let Some(outer) = innermost_pool() {
        return Err(Error::NestedPools {
            outer,
            inner: std::any::type_name::<P>(),
        });
    }
    // The journal holds the pin (the pool stays mapped while it runs, S2).
    let journal = Journal::<P>::start(P::__slot().raw()?);
    let frame = Frame {
        key: key::<P>(),
        journal: std::ptr::from_ref(&journal).cast::<()>(),
        outer: ACTIVE.get(),
        pool: std::any::type_name::<P>(),
    };
    let linked = Linked::new(&frame);
    // The journal itself is not unwind-safe (it has a RefCell), but after a panic it is
    // only used to roll back, which is what unwind safety asks for.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let r = body(&journal);
        journal.prepare_commit();
        r
    }));
    drop(linked);
    match outcome {
        Ok(r) if !journal.is_poisoned() => {
            journal.commit();
            Ok(r)
        }
        Ok(r) => {
            // A panic crossed crndm and the body caught it: all or nothing still holds.
            journal.rollback();
            drop(r);
            Err(Error::Aborted(
                "a panic inside the transaction was caught by its body; the transaction \
                 is poisoned and rolled back"
                    .to_string(),
            ))
        }
        Err(payload) => {
            journal.rollback();
            Err(Error::Aborted(message(&*payload)))
        }
    }
}
