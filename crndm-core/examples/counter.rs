//! The README's program: a persistent list of visits, one more on every run.

use crndm::default::*;

#[derive(Root)]
struct Visits {
    count: PCell<u64>,
    last: PRefCell<Option<Pbox<Visit>>>,
}

#[derive(RootLayout)]
struct Visit {
    number: u64,
    previous: PRefCell<Option<Pbox<Visit>>>,
}

fn main() -> Result<()> {
    let path = std::env::args_os()
        .nth(1)
        .map_or_else(|| std::env::temp_dir().join("visits.pool"), Into::into);
    // Creates and formats the pool on the first run; recovers and opens it later.
    let root = BuddyAlloc::open::<Visits>(&path, O_CFNE)?;

    // All or nothing: a panic or a crash inside leaves the pool as it was.
    BuddyAlloc::transaction(|j| {
        let number = root.count.get() + 1;
        root.count.set(number, j);
        let previous = PRefCell::new(root.last.take(j));
        *root.last.borrow_mut(j) = Some(Pbox::new(Visit { number, previous }, j));
    })?;

    let last = root.last.borrow();
    let visit = last.as_ref().expect("just added");
    println!("visit {} (mode {})", visit.number, BuddyAlloc::mode()?);
    if let Some(before) = visit.previous.borrow().as_ref() {
        println!("the one before was visit {}", before.number);
    }
    Ok(())
}
