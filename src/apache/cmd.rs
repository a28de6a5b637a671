//! A non-owning handle on the `cmd_parms` of the directive being processed (in the manner of
//! [`crate::apache::request::Request`]): safe accessors for what directive handlers read, and
//! the entry helpers ([`take1`], [`flag`], [`raw_args`]) that turn a handler's C arguments into a
//! [`Directive`] (the handle and typed, exclusively borrowed config records) and a Rust value,
//! run the body under the panic guard and hand its error message to Apache.
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ops::Deref;
use std::ptr::{self, NonNull};

use crate::apache::guard::guard;
use crate::apache::pool::Pool;
use crate::apache::record::{DirRecord, ServerRecord};
use crate::apache::regex::Regex;
use crate::apache::server::Server;
use crate::apache::strings::bytes;
use crate::ffi;

/// What a directive handler returns to Apache: NULL (accepted) or an error message.
pub type CmdResult = *const c_char;

/// The message of a handler that panicked (the panic itself goes to the error log).
const PANICKED: &str = "internal error in mod_wsgi_rs (see error log)";

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
    fn check_context(self, forbidden: u32) -> Result<(), String> {
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
    pub fn server_root_relative(self, path: &str) -> Option<String> {
        let path = CString::new(path).ok()?;
        // SAFETY: the result is NULL or a string in cmd->pool.
        let p = unsafe { ffi::ap_server_root_relative(self.rec().pool, path.as_ptr()) };
        if p.is_null() {
            return None;
        }
        // SAFETY: as above.
        Some(String::from_utf8_lossy(unsafe { bytes(p) }).into_owned())
    }

    /// Splits a RAW_ARGS line into words, honouring quotes (`ap_getword_conf`).
    fn words(self, args: &CStr) -> Vec<String> {
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

    /// Compiles `pattern` (POSIX extended syntax) with Apache's PCRE (`ap_pregcomp`) into the
    /// configuration pool (freed with it); `None` when it is not a valid expression.
    pub fn regcomp(self, pattern: &CStr) -> Option<Regex> {
        let flags = ffi::AP_REG_EXTENDED as c_int;
        // SAFETY: compiled into cmd->pool, which outlives every request of this generation.
        let re = NonNull::new(unsafe { ffi::ap_pregcomp(self.rec().pool, pattern.as_ptr(), flags) })?;
        // SAFETY: just compiled into the configuration pool, which outlives its users.
        Some(unsafe { Regex::from_raw(re) })
    }

    /// Refuses the directive inside <VirtualHost>/<Directory>/... (server-wide only), with
    /// Apache's message.
    pub fn require_global(self) -> Result<(), String> {
        self.check_context(ffi::GLOBAL_ONLY)
    }

    /// The directive is read from an `.htaccess` file (at request time, in the request's pool),
    /// not from the main configuration (in `pconf`).
    pub fn in_htaccess(self) -> bool {
        self.pool().as_ptr() != self.server().process_pconf().as_ptr()
    }

    /// The directive is outside any <VirtualHost>.
    pub fn outside_virtual_host(self) -> bool {
        self.check_context(ffi::NOT_IN_VIRTUALHOST).is_ok()
    }

    /// A handler's error message copied into the command pool, for Apache to print.
    fn error_message(self, msg: &str) -> CmdResult {
        let c = CString::new(msg.replace('\0', "")).unwrap_or_default();
        // SAFETY: copied into cmd->pool, which lives as long as Apache needs the message.
        unsafe { ffi::apr_pstrdup(self.rec().pool, c.as_ptr()) }
    }
}

/// The directive being processed with this module's records for its context, exclusively
/// borrowed for the handler's body: `dir`, the per-directory record Apache passes (the server's
/// defaults outside any <Directory>/<Location>), and `server`, the record of the server being
/// configured. Derefs to the [`CmdParms`].
pub struct Directive<'a, D, S> {
    pub cmd: CmdParms,
    pub dir: &'a mut D,
    pub server: &'a mut S,
}

impl<D, S> Deref for Directive<'_, D, S> {
    type Target = CmdParms;
    fn deref(&self) -> &CmdParms {
        &self.cmd
    }
}

/// The common part of the entry helpers: wraps Apache's arguments, runs `body` under the panic
/// guard, and turns `Err(msg)` into the message Apache prints.
///
/// # Safety
/// `cmd` is the live `cmd_parms` of the call; `mconfig` is the per-directory record Apache
/// passes with it (a `D`, see [`DirRecord`]).
unsafe fn enter<D: DirRecord, S: ServerRecord>(
    cmd: *mut ffi::cmd_parms,
    mconfig: *mut c_void,
    body: impl FnOnce(Directive<'_, D, S>) -> Result<(), String>,
) -> CmdResult {
    if cmd.is_null() {
        return c"mod_wsgi_rs: no cmd_parms".as_ptr();
    }
    // SAFETY: the live cmd_parms of this call, used only during it.
    let cmd = unsafe { CmdParms::from_raw(cmd) };
    let r = guard("directive handler", Err(PANICKED.to_string()), || {
        // SAFETY: mconfig is NULL or this context's D (DirRecord contract), and the server's
        // slot holds its S (ServerRecord contract); configuration is single-threaded and the two
        // records are distinct allocations, so the borrows, bounded by this call, are the only
        // ones.
        let (dir, server) = unsafe { ((mconfig as *mut D).as_mut(), cmd.server().config_mut::<S>()) };
        let (Some(dir), Some(server)) = (dir, server) else {
            return Err(format!("{}: configuration record missing", cmd.name()));
        };
        body(Directive { cmd, dir, server })
    });
    match r {
        Ok(()) => ptr::null(),
        Err(msg) => cmd.error_message(&msg),
    }
}

/// The body of a TAKE1 directive handler: `f(directive, argument)`.
///
/// # Safety
/// Apache's arguments to a TAKE1 handler of this module: the live `cmd_parms`, the context's
/// per-directory record (a `D`) and the argument (NULL or a NUL-terminated pool string).
pub unsafe fn take1<D: DirRecord, S: ServerRecord>(
    cmd: *mut ffi::cmd_parms,
    mconfig: *mut c_void,
    arg: *const c_char,
    f: impl FnOnce(Directive<'_, D, S>, &str) -> Result<(), String>,
) -> CmdResult {
    // SAFETY: Apache's arguments (contract above); the argument lives in cmd->pool.
    unsafe { enter(cmd, mconfig, |d| f(d, &String::from_utf8_lossy(bytes(arg)))) }
}

/// The body of a FLAG directive handler: `f(directive, on)`.
///
/// # Safety
/// Apache's arguments to a FLAG handler of this module: the live `cmd_parms` and the context's
/// per-directory record (a `D`).
pub unsafe fn flag<D: DirRecord, S: ServerRecord>(
    cmd: *mut ffi::cmd_parms,
    mconfig: *mut c_void,
    on: c_int,
    f: impl FnOnce(Directive<'_, D, S>, bool) -> Result<(), String>,
) -> CmdResult {
    // SAFETY: Apache's arguments (contract above).
    unsafe { enter(cmd, mconfig, |d| f(d, on != 0)) }
}

/// The body of a RAW_ARGS directive handler: `f(directive, words)`, the line split into words
/// honouring quotes (`ap_getword_conf`).
///
/// # Safety
/// Apache's arguments to a RAW_ARGS handler of this module: the live `cmd_parms`, the context's
/// per-directory record (a `D`) and the argument line (NULL or NUL-terminated, in cmd->pool).
pub unsafe fn raw_args<D: DirRecord, S: ServerRecord>(
    cmd: *mut ffi::cmd_parms,
    mconfig: *mut c_void,
    args: *const c_char,
    f: impl FnOnce(Directive<'_, D, S>, Vec<String>) -> Result<(), String>,
) -> CmdResult {
    // SAFETY: Apache's arguments (contract above); the line lives in cmd->pool.
    let line = if args.is_null() { c"" } else { unsafe { CStr::from_ptr(args) } };
    // SAFETY: as above.
    unsafe {
        enter(cmd, mconfig, |d| {
            let w = d.words(line);
            f(d, w)
        })
    }
}
