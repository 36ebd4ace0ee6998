// Bug: an unsafe fn pointer with 32 arguments is stored in persistent memory.
use crndm::default::*;

type F32 = unsafe fn(
    u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8,
    u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8,
);

fn need_psafe<T: crndm::PSafe>() {}

fn main() {
    need_psafe::<F32>();
}
