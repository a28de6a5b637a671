//! A process the Apache parent started itself and Apache watches for it (APR's "other child"):
//! it is killed with a pool (SIGTERM, SIGKILL 3 s later) and its death, while Apache runs, is
//! reported to a callback.
use std::ffi::{c_int, c_void};

use crate::apache::guard::guard;
use crate::apache::pool::Pool;
use crate::ffi;

/// The record of one watched process and the caller's `state` about it. Plain memory of its
/// pool, never dropped (hence `T: Copy`): APR's subprocess list points into it until *after*
/// the pool's cleanups ran.
pub struct OtherChild<T: Copy + 'static> {
    proc_: ffi::apr_proc_t,
    pool: Pool,
    what: &'static str,
    on_death: fn(&mut OtherChild<T>, c_int),
    pub state: T,
}

impl<T: Copy + 'static> OtherChild<T> {
    /// Makes the record in `pool` and hands it to `first` (to [`watch`](Self::watch) a first
    /// process). Later, `on_death(record, status)` runs in the Apache parent's main loop when
    /// the watched process dies or is lost (not when the pool is cleared: restart or stop);
    /// it may watch a new process. `what` names the callback in panic reports.
    pub fn create_in(
        pool: Pool,
        what: &'static str,
        state: T,
        on_death: fn(&mut OtherChild<T>, c_int),
        first: impl FnOnce(&mut OtherChild<T>),
    ) {
        // APR aligns pool memory to 8 bytes.
        const { assert!(std::mem::align_of::<OtherChild<T>>() <= 8) };
        let p = pool.palloc(std::mem::size_of::<OtherChild<T>>()) as *mut OtherChild<T>;
        // SAFETY: `p` is fresh pool memory, large enough and aligned (checked above),
        // initialised here before any use; the pool outlives the registrations made on it.
        let c = unsafe {
            p.write(OtherChild { proc_: std::mem::zeroed(), pool, what, on_death, state });
            &mut *p
        };
        first(c);
    }

    /// The pool the record (and the registrations) belong to.
    pub fn pool(&self) -> Pool {
        self.pool
    }

    /// The pid last watched (0 before the first).
    pub fn pid(&self) -> libc::pid_t {
        self.proc_.pid
    }

    /// Watches `pid`, a child of this process: APR SIGTERMs it when the pool is cleared and
    /// SIGKILLs it 3 s later, and the MPM reports its death to `on_death`.
    pub fn watch(&mut self, pid: libc::pid_t) {
        // SAFETY: apr_proc_t is plain data; zeroed is its "no process" state.
        self.proc_ = unsafe { std::mem::zeroed() };
        self.proc_.pid = pid;
        let data = self as *mut OtherChild<T> as *mut c_void;
        // SAFETY: `self` is pool memory that outlives the pool's subprocess walk and its
        // other-child registration (removed by a cleanup of the same pool, or in maintenance);
        // the parent is single-threaded when it registers and when it runs maintenance.
        unsafe {
            ffi::apr_pool_note_subprocess(self.pool.as_ptr(), &mut self.proc_, ffi::APR_KILL_AFTER_TIMEOUT);
            ffi::apr_proc_other_child_register(
                &mut self.proc_,
                Some(maintenance::<T>),
                data,
                std::ptr::null_mut(),
                self.pool.as_ptr(),
            );
        }
    }
}

/// APR's other-child callback: on death (or loss) and on restart (the pool cleared), the
/// registration ends; only death and loss reach `on_death`.
///
/// # Safety
/// Called by APR only, with the `data` registered by [`OtherChild::watch`].
unsafe extern "C" fn maintenance<T: Copy + 'static>(reason: c_int, data: *mut c_void, status: c_int) {
    // SAFETY: `data` is the OtherChild registered in `watch`, pool memory alive while it is
    // registered; the parent's main loop is single-threaded, so this is the only reference.
    let c = unsafe { &mut *(data as *mut OtherChild<T>) };
    guard(c.what, (), || match reason as u32 {
        ffi::APR_OC_REASON_DEATH | ffi::APR_OC_REASON_LOST => {
            // SAFETY: removes this registration (found by `data`); the record stays valid.
            unsafe { ffi::apr_proc_other_child_unregister(data) };
            (c.on_death)(c, status);
        }
        ffi::APR_OC_REASON_RESTART => {
            // SAFETY: as above.
            unsafe { ffi::apr_proc_other_child_unregister(data) };
        }
        _ => {}
    })
}
