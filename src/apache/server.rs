//! A non-owning handle on a configured `server_rec` (the main server or a virtual host): safe
//! accessors for what configuration and the life-cycle hooks read. Server records live as long
//! as their configuration generation (`pconf`).
use std::ffi::{CStr, CString, c_int};
use std::ptr::NonNull;

use crate::apache::pool::Pool;
use crate::apache::record::{self, ServerRecord};
use crate::apache::strings::bytes;
use crate::ffi;

/// A server of the current configuration generation. `Copy`: a view, never owning.
#[derive(Clone, Copy)]
pub struct Server(NonNull<ffi::server_rec>);

impl Server {
    /// # Safety
    /// `s` is a non-NULL `server_rec` of the current configuration generation (handed to a
    /// hook or reached from a live `cmd_parms`), outliving the handle and every copy of it.
    pub unsafe fn from_raw(s: *mut ffi::server_rec) -> Server {
        Server(NonNull::new(s).expect("NULL server_rec"))
    }

    /// The main server of the running configuration (`ap_server_conf`), `None` before Apache
    /// has read one.
    pub fn main() -> Option<Server> {
        // SAFETY: a by-value read of Apache's global; when set, it is the main server of the
        // current generation, live until the next one replaces it.
        NonNull::new(unsafe { ffi::ap_server_conf }).map(Server)
    }

    /// The raw record, for the places that still store or log with it.
    pub fn as_ptr(self) -> *mut ffi::server_rec {
        self.0.as_ptr()
    }

    fn rec(&self) -> &ffi::server_rec {
        // SAFETY: live for the generation (from_raw contract); the fields read through this
        // reference are only written by Apache while it reads the configuration, one
        // directive at a time, never while we hold this borrow.
        unsafe { self.0.as_ref() }
    }

    /// The process-wide configuration pool (`s->process->pconf`).
    pub fn process_pconf(self) -> Pool {
        // SAFETY: s->process is Apache's process record, live for the process; its pconf is
        // the pool of the current generation.
        unsafe { Pool::from_raw((*self.rec().process).pconf) }
    }

    /// The process-wide pool (`s->process->pool`): survives generations and module reloads.
    pub fn process_pool(self) -> Pool {
        // SAFETY: s->process is Apache's process record, live for the process, as its pool.
        unsafe { Pool::from_raw((*self.rec().process).pool) }
    }

    /// Apache's command line (`s->process->argv`), copied.
    pub fn process_argv(self) -> Vec<CString> {
        // SAFETY: s->process is Apache's process record, live for the process; argv holds
        // argc NUL-terminated strings, Apache's copy of the command line, never changed.
        unsafe {
            let p = &*self.rec().process;
            (0..p.argc.max(0) as usize).map(|i| CStr::from_ptr(*p.argv.add(i)).to_owned()).collect()
        }
    }

    /// Points the server's error log at stderr (an APR file of `pool`) if it has none: for a
    /// process that never opens logs itself and inherited the parent's error log as stderr.
    ///
    /// # Safety
    /// No other thread uses this server record (single-threaded start-up), and `pool` lives as
    /// long as the record (its configuration pool).
    pub unsafe fn set_error_log_stderr(self, pool: Pool) {
        let rec = self.0.as_ptr();
        // SAFETY: per this function's contract, nothing else reads or writes the record now;
        // the apr_file_t lives in `pool`, as long as the record.
        unsafe {
            if (*rec).error_log.is_null() {
                let mut f: *mut ffi::apr_file_t = std::ptr::null_mut();
                if ffi::apr_file_open_stderr(&mut f, pool.as_ptr()) == 0 {
                    (*rec).error_log = f;
                }
            }
        }
    }

    /// The descriptor of the server's error log as Apache opened it (open_logs: a file or the
    /// pipe to a piped logger), `None` before logs are opened or when it logs through syslog or
    /// another provider. A virtual host without its own `ErrorLog` shares the main server's
    /// `apr_file_t`, hence its descriptor. The descriptor belongs to Apache (`plog`): borrow it
    /// for the generation, never close it.
    pub fn error_log_fd(self) -> Option<c_int> {
        let f = self.rec().error_log;
        if f.is_null() {
            return None;
        }
        let mut fd: ffi::apr_os_file_t = -1;
        // SAFETY: `f` is the server's live error log file (pool-owned, set by open_logs);
        // apr_os_file_get only reads its descriptor into `fd`.
        let rc = unsafe { ffi::apr_os_file_get(&mut fd, f) };
        (rc == 0 && fd >= 0).then_some(fd)
    }

    /// `ServerName` of this server (empty when unset).
    pub fn hostname(&self) -> &[u8] {
        // SAFETY: server_hostname is NULL or a pool string of the generation.
        unsafe { bytes(self.rec().server_hostname) }
    }

    /// `ServerName` as a `String` (lossy), for the "same ServerName" rule and messages.
    pub fn hostname_lossy(self) -> String {
        String::from_utf8_lossy(self.hostname()).into_owned()
    }

    /// The server's `Timeout`, in microseconds.
    pub fn timeout_us(self) -> i64 {
        self.rec().timeout
    }

    /// This module's record of this server, made by our create/merge_server_config.
    ///
    /// # Safety
    /// The server is configured (its config callbacks ran), its generation outlives `'a`, and
    /// nothing mutates the record meanwhile (configuration is over, or this is the one borrow a
    /// directive handler holds).
    pub unsafe fn config<'a, T: ServerRecord>(self) -> &'a T {
        // SAFETY: a live server's config vector; the slot holds a T (ServerRecord contract).
        unsafe { record::read::<T>(self.rec().module_config) }.expect("server config missing")
    }

    /// As [`Server::config`], mutable: for the directive handler of this server's directive.
    ///
    /// # Safety
    /// As [`Server::config`], and no other reference to the record exists while `'a` lasts.
    pub(crate) unsafe fn config_mut<'a, T: ServerRecord>(self) -> Option<&'a mut T> {
        // SAFETY: as config; exclusivity per the contract above.
        unsafe { (*record::slot(self.rec().module_config) as *mut T).as_mut() }
    }

    /// `ap_add_version_component`: adds `component` to the Server header and banner.
    pub fn add_version_component(pconf: Pool, component: &str) {
        let c = CString::new(component.replace('\0', "")).unwrap_or_default();
        // SAFETY: Apache copies the string into the live configuration pool.
        unsafe { ffi::ap_add_version_component(pconf.as_ptr(), c.as_ptr()) }
    }
}
