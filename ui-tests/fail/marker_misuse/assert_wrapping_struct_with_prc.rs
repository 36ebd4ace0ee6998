// Bug: `AssertTxInSafe` smuggles a struct holding a Prc of pool `a` into pool `b`'s transaction.
crndm::pool!(a);
crndm::pool!(b);
use crndm::{AssertTxInSafe, MemPool, O_CF};

struct Holder {
    _label: u8,
    prc: a::Prc<u64>,
}

fn main() -> crndm::Result<()> {
    let rb = b::BuddyAlloc::open::<b::PRefCell<Option<a::Prc<u64>>>>("b.pool", O_CF)?;
    a::BuddyAlloc::transaction(|ja| {
        let smuggled = AssertTxInSafe(Holder {
            _label: 1,
            prc: a::Prc::new(1, ja),
        });
        b::BuddyAlloc::transaction(|jb| {
            let wrapper = smuggled; // the whole wrapper, not a field
            *rb.borrow_mut(jb) = Some(wrapper.0.prc);
        })
        .unwrap();
    })?;
    Ok(())
}
