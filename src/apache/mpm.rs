//! What the running MPM says about itself (threads, processes) and Apache's version.
use std::ffi::c_int;
use std::sync::OnceLock;

use crate::ffi;

/// MPM facts for `wsgi.multithread` / `wsgi.multiprocess`, queried once per child.
pub struct MpmInfo {
    pub threaded: bool,
    pub multiprocess: bool,
    pub max_daemons: u32,
    pub threads: u32,
    pub version: (u32, u32, u32),
}

static MPM: OnceLock<MpmInfo> = OnceLock::new();

fn mpm_query(q: u32) -> c_int {
    let mut v: c_int = 0;
    // SAFETY: ap_mpm_query writes one int.
    unsafe { ffi::ap_mpm_query(q as c_int, &mut v) };
    v
}

pub fn mpm() -> &'static MpmInfo {
    MPM.get_or_init(|| {
        let mut ver = ffi::ap_version_t::default();
        // SAFETY: fills the struct.
        unsafe { ffi::ap_get_server_revision(&mut ver) };
        let max_daemons = mpm_query(ffi::AP_MPMQ_MAX_DAEMONS).max(1) as u32;
        MpmInfo {
            threaded: mpm_query(ffi::AP_MPMQ_IS_THREADED) != ffi::AP_MPMQ_NOT_SUPPORTED as c_int,
            multiprocess: max_daemons > 1,
            max_daemons,
            threads: mpm_query(ffi::AP_MPMQ_MAX_THREADS).max(1) as u32,
            version: (ver.major as u32, ver.minor as u32, ver.patch as u32),
        }
    })
}

/// The MPM is stopping (`AP_MPMQ_MPM_STATE` is `AP_MPMQ_STOPPING`): nothing may be restarted.
pub fn is_stopping() -> bool {
    mpm_query(ffi::AP_MPMQ_MPM_STATE) == ffi::AP_MPMQ_STOPPING as c_int
}
