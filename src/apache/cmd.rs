//! A non-owning handle on the `cmd_parms` of the directive being processed (in the manner of
//! [`crate::apache::request::Request`]): safe accessors for what directive handlers read. Made
//! only at a directive handler's entry by [`CmdParms::from_raw`].
use std::ffi::{CStr, CString, c_char, c_int};
use std::ptr::NonNull;

use crate::apache::pool::Pool;
use crate::apache::server::Server;
use crate::apache::strings::bytes;
use crate::ffi;

/// The directive being processed. `Copy`: a view, used only during the handler's call.
#[derive(Clone, Copy)]
pub struct CmdParms(NonNull<ffi::cmd_parms>);

impl CmdParms {
    /// # Safety
    /// `cmd` is the non-NULL `cmd_parms` Apache handed to a directive handler, and the handle
    /// (and every copy) is used only during that call (configuration is single-threaded).
    pub unsafe fn from_raw(cmd: *mut ffi::cmd_parms) -> CmdParms {
        CmdParms(NonNull::new(cmd).expect("NULL cmd_parms"))
    }

    pub fn as_ptr(self) -> *mut ffi::cmd_parms {
        self.0.as_ptr()
    }

    fn rec(&self) -> &ffi::cmd_parms {
        // SAFETY: live for the handler's call (from_raw contract); Apache does not change it
        // while the handler runs.
        unsafe { self.0.as_ref() }
    }

    /// The configuration pool (`pconf` while the configuration is read).
    pub fn pool(self) -> Pool {
        // SAFETY: cmd->pool is the configuration pool, outliving the handler.
        unsafe { Pool::from_raw(self.rec().pool) }
    }

    /// The server being configured (the main server or the enclosing <VirtualHost>).
    pub fn server(self) -> Server {
        // SAFETY: cmd->server is a server_rec of this generation.
        unsafe { Server::from_raw(self.rec().server) }
    }

    /// The directive's name as written in the command table.
    pub fn name(self) -> String {
        // SAFETY: cmd->cmd points at an entry of our static command table (name: a static C
        // string).
        String::from_utf8_lossy(unsafe { bytes((*self.rec().cmd).name) }).into_owned()
    }

    /// (file, line) of the directive being processed (`("", 0)` when Apache gives none).
    pub fn location(self) -> (String, u32) {
        let d = self.rec().directive;
        if d.is_null() {
            return (String::new(), 0);
        }
        // SAFETY: cmd->directive is the current config node; its file name is a pool string.
        unsafe { (String::from_utf8_lossy(bytes((*d).filename)).into_owned(), (*d).line_num as u32) }
    }

    /// `ap_check_cmd_context(cmd, forbidden)`: `Err` with Apache's message when the directive
    /// appears in a forbidden context (`ffi::GLOBAL_ONLY`, `ffi::NOT_IN_VIRTUALHOST`, ...).
    pub fn check_context(self, forbidden: u32) -> Result<(), String> {
        // SAFETY: ap_check_cmd_context only reads the live cmd_parms; the message it returns
        // is NULL or a static/pool string.
        let e = unsafe { ffi::ap_check_cmd_context(self.as_ptr(), forbidden) };
        if e.is_null() {
            Ok(())
        } else {
            // SAFETY: as above.
            Err(String::from_utf8_lossy(unsafe { bytes(e) }).into_owned())
        }
    }

    /// The command table's `cmd_data` for this directive, as an integer selector.
    pub fn info(self) -> usize {
        self.rec().info as usize
    }

    /// `ap_server_root_relative`: `path` resolved against ServerRoot, `None` when invalid.
    pub fn server_root_relative(self, path: &CStr) -> Option<String> {
        // SAFETY: the result is NULL or a string in cmd->pool.
        let p = unsafe { ffi::ap_server_root_relative(self.rec().pool, path.as_ptr()) };
        if p.is_null() {
            return None;
        }
        // SAFETY: as above.
        Some(String::from_utf8_lossy(unsafe { bytes(p) }).into_owned())
    }

    /// Splits a RAW_ARGS line into words, honouring quotes (`ap_getword_conf`).
    pub fn words(self, args: &CStr) -> Vec<String> {
        let mut out = Vec::new();
        let mut p: *const c_char = args.as_ptr();
        loop {
            // SAFETY: ap_getword_conf advances `p` through the NUL-terminated argument line
            // and returns a string in cmd->pool.
            let w = unsafe { ffi::ap_getword_conf(self.rec().pool, &mut p) };
            // SAFETY: w is a pool string.
            let s = unsafe { bytes(w) };
            if s.is_empty() {
                break;
            }
            out.push(String::from_utf8_lossy(s).into_owned());
        }
        out
    }

    /// Compiles `pattern` with Apache's PCRE (`ap_pregcomp`) into the configuration pool
    /// (freed with it); `None` when it is not a valid expression.
    pub fn regcomp(self, pattern: &CStr, flags: c_int) -> Option<NonNull<ffi::ap_regex_t>> {
        // SAFETY: compiled into cmd->pool, which outlives every request of this generation.
        NonNull::new(unsafe { ffi::ap_pregcomp(self.rec().pool, pattern.as_ptr(), flags) })
    }

    /// A handler's error message copied into the command pool, for Apache to print.
    pub fn error_message(self, msg: &str) -> *const c_char {
        let c = CString::new(msg.replace('\0', "")).unwrap_or_default();
        // SAFETY: copied into cmd->pool, which lives as long as Apache needs the message.
        unsafe { ffi::apr_pstrdup(self.rec().pool, c.as_ptr()) }
    }
}

/// A directive argument as Apache passed it (`c""` for NULL).
///
/// # Safety
/// `a` is NULL or a NUL-terminated string (Apache's arguments live in cmd->pool) outliving `'a`.
pub unsafe fn arg<'a>(a: *const c_char) -> &'a CStr {
    // SAFETY: per the contract above.
    if a.is_null() { c"" } else { unsafe { CStr::from_ptr(a) } }
}
