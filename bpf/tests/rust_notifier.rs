// Target for fdtrack's demangling test: a method of a Rust struct leaks an
// eventfd (std only; built twice by bpf/build.mk, with rustc's legacy and v0
// symbol manglings).
use std::os::raw::{c_int, c_uint};

extern "C" {
    fn eventfd(initval: c_uint, flags: c_int) -> c_int;
}

pub struct SleepNotifier {
    fd: c_int,
}

impl SleepNotifier {
    #[inline(never)]
    pub fn new() -> SleepNotifier {
        let fd = unsafe { eventfd(0, 0) };
        std::hint::black_box(SleepNotifier { fd }) // no tail call
    }
}

fn main() {
    let n = SleepNotifier::new(); // never closed
    println!("fd {}", n.fd);
    std::process::exit(if n.fd < 0 { 1 } else { 0 });
}
