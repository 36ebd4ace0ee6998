//! Running a transaction: the journal registry of this thread (flat nesting, and the
//! journal `Drop` code finds), panic capture, commit and rollback.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, UnwindSafe, catch_unwind};

use crate::error::{Error, Result};
use crate::marker::{TxInSafe, TxOutSafe};
use crate::stm::journal::Journal;
use crate::stm::pool_type::MemPool;

thread_local! {
    /// The journals of the transactions running on this thread: (pool slot address,
    /// `*const Journal<P>` of that pool).
    static ACTIVE: RefCell<Vec<(usize, *const ())>> = const { RefCell::new(Vec::new()) };
}

fn key<P: MemPool>() -> usize {
    std::ptr::from_ref(P::__slot()) as usize
}

/// Calls `f` with the journal of the transaction of `P` running on this thread, if any.
pub(crate) fn with_current<P: MemPool, T>(f: impl FnOnce(Option<&Journal<P>>) -> T) -> T {
    let k = key::<P>();
    let ptr = ACTIVE
        .try_with(|a| a.borrow().iter().rev().find(|e| e.0 == k).map(|e| e.1))
        .ok()
        .flatten();
    match ptr {
        // SAFETY: the entry was pushed by `run::<P>` for a journal that lives on its
        // stack frame until the entry is removed, and entries are keyed by P's unique
        // slot (MemPool safety (2)), so the pointer is a live `Journal<P>`. The borrow
        // given to `f` ends before `f` returns, inside that frame.
        Some(p) => f(Some(unsafe { &*p.cast::<Journal<P>>() })),
        None => f(None),
    }
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

/// Runs `body` as a transaction of `P` (see [`MemPool::transaction`]).
///
/// # Errors
/// [`Error::NotOpen`], or [`Error::Aborted`] if the body panicked.
///
/// # Panics
/// Only on a broken internal invariant (the thread's journal registry).
pub(crate) fn run<P, F, R>(body: F) -> Result<R>
where
    P: MemPool,
    F: for<'j> FnOnce(&'j Journal<P>) -> R + TxInSafe + UnwindSafe,
    R: TxOutSafe,
{
    // Flat nesting: inside a transaction of P, the body joins it. A panic unwinds to
    // the outermost transaction, which rolls everything back.
    let mut body = Some(body);
    let nested = with_current::<P, _>(|j| j.map(|j| (body.take().expect("body unused"))(j)));
    if let Some(r) = nested {
        return Ok(r);
    }
    let body = body.expect("not nested, so the body is unused");
    let pool = P::__slot().raw()?;
    let journal = Journal::<P>::start(pool);
    let k = key::<P>();
    ACTIVE.with(|a| {
        a.borrow_mut()
            .push((k, std::ptr::from_ref(&journal).cast::<()>()));
    });
    // The journal itself is not unwind-safe (it has a RefCell), but after a panic it is
    // only used to roll back, which is what unwind safety asks for.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let r = body(&journal);
        journal.prepare_commit();
        r
    }));
    ACTIVE.with(|a| {
        let mut a = a.borrow_mut();
        let pos = a
            .iter()
            .rposition(|e| e.0 == k)
            .expect("our entry is present");
        a.remove(pos);
    });
    match outcome {
        Ok(r) => {
            journal.commit();
            Ok(r)
        }
        Err(payload) => {
            journal.rollback();
            Err(Error::Aborted(message(&*payload)))
        }
    }
}
