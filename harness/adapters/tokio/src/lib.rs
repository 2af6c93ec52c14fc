//! tokio 1.24 (Debian's librust-tokio-dev) behind exstress's adapter
//! interface (harness/adapter.h), as a cdylib with its C ABI.
//!
//! A loop is a current-thread Runtime (enable_all: mio's epoll fd and the
//! eventfd of its waker, the time driver) with tasks parked on a sleep an
//! hour away, on readiness of a dup of exstress's idle pipe (AsyncFd), on
//! a Notify woken from exstress's main thread (notify_one), and on an mpsc
//! receiver whose sender nobody uses. A turn is a block_on of a few
//! yields: every spawned task is polled and parks.
//!
//! correct: drop the Runtime, which cancels (drops) every task and closes
//! the drivers.
//!
//! careless: std::mem::forget the Runtime. Dropping a runtime blocks, and
//! where it is dropped inside async code it panics ("Cannot drop a runtime
//! in a context where blocking is not allowed", tokio-rs/tokio#1950,
//! mozilla-services/merino#83); forgetting it is the workaround that
//! silences the panic instead of Runtime::shutdown_background. The epoll
//! fd, the waker's eventfd, the tasks and the runtime's memory leak.
#![allow(clippy::missing_safety_doc)]

use std::os::raw::{c_char, c_int, c_void};
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::runtime::{Builder, Runtime};
use tokio::sync::{mpsc, Notify};

const EXS_ADAPTER_ABI: u32 = 1;
const PARK_TIMER: c_int = 0;
const PARK_FD: c_int = 1;
const PARK_WAKE: c_int = 2;
const PARK_QUEUE: c_int = 3;
const TEARDOWN_CARELESS: c_int = 1;

#[repr(C)]
pub struct LoopEnv {
    idle_fd: c_int,
    index: u32,
}

#[repr(C)]
pub struct Adapter {
    abi: u32,
    name: *const c_char,
    correct: *const c_char,
    careless: *const c_char,
    kinds: u32,
    init: Option<unsafe extern "C" fn(*mut c_char, usize) -> c_int>,
    loop_new: unsafe extern "C" fn(*const LoopEnv, *mut c_int) -> *mut c_void,
    park: unsafe extern "C" fn(*mut c_void, c_int) -> c_int,
    wake: Option<unsafe extern "C" fn(*mut c_void)>,
    turn: unsafe extern "C" fn(*mut c_void) -> c_int,
    teardown: unsafe extern "C" fn(*mut c_void, c_int),
}

// Only read, from any thread: the strings are 'static.
unsafe impl Sync for Adapter {}

/// The fd a task waits on: a dup of the idle pipe, closed when the task is
/// dropped.
struct OwnedFd(RawFd);

impl AsRawFd for OwnedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl Drop for OwnedFd {
    fn drop(&mut self) {
        unsafe { libc::close(self.0) };
    }
}

struct Loop {
    rt: Runtime,
    idle_fd: RawFd,
    notifies: Vec<Arc<Notify>>,
    senders: Vec<mpsc::Sender<u8>>,
}

unsafe extern "C" fn loop_new(env: *const LoopEnv, err: *mut c_int) -> *mut c_void {
    match Builder::new_current_thread().enable_all().build() {
        Ok(rt) => Box::into_raw(Box::new(Loop {
            rt,
            idle_fd: (*env).idle_fd,
            notifies: Vec::new(),
            senders: Vec::new(),
        })) as *mut c_void,
        Err(e) => {
            *err = -e.raw_os_error().unwrap_or(libc::ENOMEM);
            std::ptr::null_mut()
        }
    }
}

unsafe extern "C" fn park(l: *mut c_void, kind: c_int) -> c_int {
    let l = &mut *(l as *mut Loop);
    let _ctx = l.rt.enter(); // sleep() and AsyncFd need the runtime's context
    match kind {
        PARK_TIMER => {
            l.rt.spawn(tokio::time::sleep(Duration::from_secs(3600)));
        }
        PARK_FD => {
            let fd = libc::dup(l.idle_fd);
            if fd < 0 {
                return -*libc::__errno_location();
            }
            let fd = OwnedFd(fd);
            l.rt.spawn(async move {
                if let Ok(afd) = AsyncFd::new(fd) {
                    let _ = afd.readable().await;
                }
            });
        }
        PARK_WAKE => {
            let n = Arc::new(Notify::new());
            let task = n.clone();
            l.rt.spawn(async move {
                loop {
                    task.notified().await;
                }
            });
            l.notifies.push(n);
        }
        PARK_QUEUE => {
            let (tx, mut rx) = mpsc::channel::<u8>(1);
            l.rt.spawn(async move { rx.recv().await });
            l.senders.push(tx);
        }
        _ => return -libc::EINVAL,
    }
    0
}

unsafe extern "C" fn wake(l: *mut c_void) {
    let l = &*(l as *const Loop);
    for n in &l.notifies {
        n.notify_one();
    }
}

unsafe extern "C" fn turn(l: *mut c_void) -> c_int {
    let l = &*(l as *const Loop);
    l.rt.block_on(async {
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    });
    0
}

unsafe extern "C" fn teardown(l: *mut c_void, how: c_int) {
    let l = Box::from_raw(l as *mut Loop);
    if how == TEARDOWN_CARELESS {
        std::mem::forget(l.rt);
        drop(l.notifies);
        drop(l.senders);
        return;
    }
    drop(l);
}

#[no_mangle]
pub static exs_adapter: Adapter = Adapter {
    abi: EXS_ADAPTER_ABI,
    name: b"tokio\0".as_ptr() as *const c_char,
    correct: b"drop the Runtime (every task cancelled, drivers closed)\0".as_ptr()
        as *const c_char,
    careless: b"std::mem::forget the Runtime to dodge the drop-in-async panic \
(tokio-rs/tokio#1950)\0"
        .as_ptr() as *const c_char,
    kinds: (1 << PARK_TIMER) | (1 << PARK_FD) | (1 << PARK_WAKE) | (1 << PARK_QUEUE),
    init: None,
    loop_new,
    park,
    wake: Some(wake),
    turn,
    teardown,
};
