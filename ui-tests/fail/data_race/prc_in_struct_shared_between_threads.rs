// Bug: a struct holding a `Prc` is shared by `&` with another thread, which clones the
// `Prc` while this thread does too.
use crndm::default::*;

struct Holder {
    node: Prc<u64>,
}

fn main() {
    fn needs_sync<T: Sync>(_: &T) {}
    fn check(h: &Holder) {
        needs_sync(h);
    }
    let _ = check;
}
