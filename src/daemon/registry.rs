//! Every `WSGIDaemonProcess` group of the current configuration generation, plus the places
//! that refer to a group (checked in check_config). The registry lives in `pconf` (pool
//! userdata): a new generation, a new registry; Rust statics would not survive Apache
//! reloading the module between generations.
use std::ffi::{CString, c_int};
use std::sync::atomic::{AtomicPtr, Ordering};

use wsgi_rs_core::config::{DaemonOptions, OwnerRule};
use wsgi_rs_core::wire::TOKEN_LEN;

use crate::apache::pool::Pool;
use crate::apache::request::Request;
use crate::apache::server::Server;

/// The back-off rules for processes that keep dying (shared by the parent and the spawner).
pub use wsgi_rs_core::daemon::backoff::{EXIT_STARTUP_FAILED, QUICK_DEATH, backoff_after};

pub struct DaemonGroup {
    pub opts: DaemonOptions,
    /// Index in the registry (names the socket).
    pub id: usize,
    /// The server where the directive appeared (of this generation, like the registry);
    /// `global` when outside any <VirtualHost>.
    pub defined_in: Server,
    pub global: bool,
    /// Resolved at configuration time (None: Apache's User/Group).
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub user_name: Option<CString>,
    pub user_home: Option<String>,
    pub supplementary_gids: Vec<u32>,
    /// `script-user=` / `script-group=`, resolved at configuration time.
    pub script_owner: Option<OwnerRule>,
    /// Set in post_config by the parent.
    pub socket_path: CString,
    pub listen_fd: c_int,
    /// In the spawner and its daemon processes only: the descriptor of the error log of the
    /// `<VirtualHost>` the group is defined in, handed over by the parent (see
    /// [`DaemonGroup::own_error_log_fd`]); a daemon process makes it its stderr. -1: none, the
    /// processes keep the main error log as stderr.
    pub log_fd: c_int,
    /// The Apache parent that created the socket: only it removes the file.
    pub parent_pid: i32,
    pub token: [u8; TOKEN_LEN],
    /// Scripts imported when a process starts.
    pub preload: Vec<Preload>,
}

/// A script a daemon group (or, embedded, every Apache child) imports when a process starts.
#[derive(Clone, PartialEq, Eq)]
pub struct Preload {
    pub script: String,
    pub callable: String,
    /// The application group it is imported into (`""`: the main interpreter).
    pub app_group: String,
}

/// Where a group is named (`WSGIProcessGroup`, `process-group=`, `WSGIImportScript`).
pub struct GroupRef {
    pub name: String,
    pub server: Server,
    pub directive: String,
    pub file: String,
    pub line: u32,
}

#[derive(Default)]
pub struct Registry {
    pub groups: Vec<Box<DaemonGroup>>,
    pub refs: Vec<GroupRef>,
    /// Scripts to preload: (daemon group, script), attached to groups in check_config.
    pub imports: Vec<(String, Preload)>,
    /// Scripts every Apache child imports at child_init (embedded preloading:
    /// `process-group=%{GLOBAL}` with a literal `application-group=`).
    pub embedded_preload: Vec<Preload>,
    /// An auth script directive (`WSGIAccessScript`, `WSGIAuthUserScript`,
    /// `WSGIAuthGroupScript`) is in the main configuration: Python starts in Apache children
    /// even under `WSGIRestrictEmbedded On` (as mod_wsgi), since the scripts run there.
    pub auth_scripts: bool,
    /// `WSGISocketPrefix`, resolved against ServerRoot.
    pub socket_prefix: Option<String>,
    /// PID of the Apache parent that created the sockets (cleanups only act there).
    pub parent_pid: i32,
}

impl Registry {
    pub fn find(&self, name: &str) -> Option<&DaemonGroup> {
        self.groups.iter().find(|g| g.opts.name == name).map(|g| &**g)
    }
}

const KEY: &std::ffi::CStr = c"mod_wsgi_rs.registry";

/// The registry of `pconf`, created on first use, dropped with the pool.
///
/// # Safety
/// `pconf` is the configuration pool of the current generation; no other reference to the
/// registry is in use while the returned one is (each hook or directive takes it afresh), and
/// it is not used once `pconf` is cleared.
pub unsafe fn registry<'a>(pconf: Pool) -> &'a mut Registry {
    // SAFETY: KEY is only ever set here, with a Registry; aliasing and lifetime per this
    // function's contract.
    unsafe { pconf.userdata_or_insert_with(KEY, Registry::default) }
}

/// The registry as seen by an Apache child (set in child_init; children never reload the .so).
static CHILD_REGISTRY: AtomicPtr<Registry> = AtomicPtr::new(std::ptr::null_mut());

pub fn set_child_registry(r: *mut Registry) {
    CHILD_REGISTRY.store(r, Ordering::Release);
}

pub fn child_registry<'a>() -> Option<&'a Registry> {
    let p = CHILD_REGISTRY.load(Ordering::Acquire);
    // SAFETY: set in child_init to the generation's registry, which outlives the child.
    if p.is_null() { None } else { Some(unsafe { &*p }) }
}

impl DaemonGroup {
    /// The "same ServerName" rule: a group defined in a <VirtualHost> serves only requests of a
    /// virtual host with that name; `Err` carries the request's server name for the log.
    pub fn usable_from(&self, r: &Request) -> Result<(), String> {
        if self.global {
            return Ok(());
        }
        let (there, here) = (server_name(self.defined_in), server_name(r.server_handle()));
        if there == here { Ok(()) } else { Err(here) }
    }

    /// In the Apache parent, after open_logs: the descriptor of the error log of the
    /// `<VirtualHost>` this group is defined in, when that virtual host has an `ErrorLog` of its
    /// own (a file or a piped logger). `None` for a group defined at server level, or in a
    /// virtual host that shares the main error log or logs through syslog: its processes log to
    /// the main error log. The descriptor is Apache's, open for this generation.
    pub fn own_error_log_fd(&self, main: Server) -> Option<c_int> {
        if self.global {
            return None;
        }
        let fd = self.defined_in.error_log_fd()?;
        (Some(fd) != main.error_log_fd()).then_some(fd)
    }
}

/// The server's name, for the "same ServerName" rule of vhost-defined groups.
pub fn server_name(s: Server) -> String {
    s.hostname_lossy()
}
