// A packed struct can store a persistent pointer at an address that is not a multiple of
// 8, where the leak check (`crndm-pool check`) would not see it and `--repair --leaks`
// could free a live object: `#[derive(RootLayout)]` refuses packed types.
use crndm::default::*;

#[derive(crndm::RootLayout)]
#[repr(C, packed)]
struct Hidden {
    tag: u8,
    ptr: Option<Pbox<u64>>,
}

fn main() {}
