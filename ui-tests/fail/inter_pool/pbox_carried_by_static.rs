// Bug: a static carries a Pbox out of pool `a`'s transaction, to be stored in pool `b` later.
crndm::pool!(a);
use crndm::MemPool;
use std::sync::Mutex;

static CARRIER: Mutex<Option<a::Pbox<i32>>> = Mutex::new(None);

fn main() -> crndm::Result<()> {
    a::BuddyAlloc::transaction(|ja| {
        *CARRIER.lock().unwrap() = Some(a::Pbox::new(1, ja));
    })?;
    Ok(())
}
