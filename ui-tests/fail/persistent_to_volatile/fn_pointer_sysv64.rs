// Bug: fn pointers of a non-C ABI, variadic and higher-ranked, are stored in persistent memory.
fn need_psafe<T: crndm::PSafe>() {}

fn main() {
    need_psafe::<extern "sysv64" fn(u32) -> u32>();
    need_psafe::<unsafe extern "win64-unwind" fn()>();
    need_psafe::<unsafe extern "C" fn(*const u8, ...) -> i32>();
    need_psafe::<for<'a> fn(&'a u8, &'a u8) -> &'a u8>();
}
