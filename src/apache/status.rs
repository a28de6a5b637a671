//! Handler and hook return values: `OK`, `DECLINED` and HTTP status codes, as one type instead
//! of `ffi::HTTP_* as c_int` casts at every return.
use std::ffi::c_int;

use crate::ffi;

/// What a handler returns to Apache (`OK`, `DECLINED` or an HTTP status code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status(c_int);

impl Status {
    pub const OK: Status = Status(ffi::OK as c_int);
    pub const DECLINED: Status = Status(ffi::DECLINED as c_int);
    pub const FORBIDDEN: Status = Status(ffi::HTTP_FORBIDDEN as c_int);
    pub const NOT_FOUND: Status = Status(ffi::HTTP_NOT_FOUND as c_int);
    pub const LENGTH_REQUIRED: Status = Status(ffi::HTTP_LENGTH_REQUIRED as c_int);
    pub const INTERNAL_SERVER_ERROR: Status = Status(ffi::HTTP_INTERNAL_SERVER_ERROR as c_int);
    pub const BAD_GATEWAY: Status = Status(ffi::HTTP_BAD_GATEWAY as c_int);
    pub const SERVICE_UNAVAILABLE: Status = Status(ffi::HTTP_SERVICE_UNAVAILABLE as c_int);
    pub const GATEWAY_TIME_OUT: Status = Status(ffi::HTTP_GATEWAY_TIME_OUT as c_int);

    /// A status as Apache's API returns it (e.g. `ap_setup_client_block`) or an HTTP code.
    pub const fn from_raw(v: c_int) -> Status {
        Status(v)
    }

    /// The value handed back to Apache.
    pub const fn raw(self) -> c_int {
        self.0
    }
}
