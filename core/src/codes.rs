//! Every log code this module writes (`RWSGInnnn:` at the start of an error-log line), as data:
//! level, meaning and what the client sees. The README's "Error reference" table must say the
//! same (checked by the test below), and every code the sources log must be listed here.

/// Where a log line stands in Apache's error log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Info,
    /// Seen only at `LogLevel debug` (or finer): a per-request detail, e.g. which path a
    /// response took.
    Debug,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

/// One stable log code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    pub code: &'static str,
    pub level: Level,
    /// One line: what happened (Markdown, as in the README).
    pub meaning: &'static str,
    /// What the client gets ("–": nothing particular).
    pub client: &'static str,
}

const fn c(code: &'static str, level: Level, meaning: &'static str, client: &'static str) -> Code {
    Code { code, level, meaning, client }
}

use Level::{Error, Info, Warning};

/// All codes, in numeric order.
pub const CODES: &[Code] = &[
    c("RWSGI0001", Info, "Python started in an Apache child (version, prefix).", "–"),
    c(
        "RWSGI0002",
        Error,
        "Python failed to start in an Apache child (bad `WSGIPythonHome`, …). Requests then get RWSGI0015.",
        "–",
    ),
    c("RWSGI0003", Error, "A `WSGIPythonPath` entry could not be added.", "–"),
    c("RWSGI0004", Error, "A `WSGIPythonWarnings` entry is not a valid `-W` filter.", "–"),
    c("RWSGI0010", Error, "Target WSGI script not found or unable to stat.", "404"),
    c("RWSGI0011", Error, "The target is a directory.", "403"),
    c("RWSGI0012", Error, "`Options ExecCGI` is off where `AddHandler`/`SetHandler wsgi-script` applies.", "403"),
    c("RWSGI0013", Error, "Extra path info with `AcceptPathInfo Off`.", "404"),
    c("RWSGI0014", Error, "Chunked request body with `WSGIChunkedRequest Off`.", "411"),
    c("RWSGI0015", Error, "Python is not available in this process (see RWSGI0002).", "500"),
    c("RWSGI0016", Error, "Embedded request while `WSGIRestrictEmbedded On`.", "500"),
    c(
        "RWSGI0020",
        Error,
        "The script failed to compile or raised while being imported; traceback follows as RWSGI0021.",
        "500",
    ),
    c("RWSGI0021", Error, "One line of a Python traceback.", "–"),
    c("RWSGI0022", Error, "The script has no callable of the configured name.", "500"),
    c(
        "RWSGI0023",
        Error,
        "The application raised before sending headers (or never called `start_response`, or broke the WSGI rules); traceback follows.",
        "500",
    ),
    c(
        "RWSGI0024",
        Error,
        "The application raised after headers were sent; traceback follows.",
        "connection cut (no final chunk)",
    ),
    c(
        "RWSGI0025",
        Error,
        "An `ImportError` says an extension module does not support sub-interpreters (follows the traceback): in a named application group, use `WSGIApplicationGroup %{GLOBAL}` for this application; in the main interpreter (a named group loaded the module first), use `%{GLOBAL}` for every application that uses it.",
        "500",
    ),
    c(
        "RWSGI0026",
        Error,
        "`close()` of the returned iterable raised; traceback follows.",
        "500 if no header was sent yet",
    ),
    c(
        "RWSGI0027",
        Error,
        "The response body ended short of its declared `Content-Length` (bytes sent / declared).",
        "what was sent, then the connection is closed",
    ),
    c(
        "RWSGI0030",
        Error,
        "A line written to `sys.stderr` or `wsgi.errors` (lines of a request, including what its thread prints to `sys.stderr`, carry `[client …]` and go to its virtual host's log).",
        "–",
    ),
    c(
        "RWSGI0031",
        Error,
        "A line written to `sys.stdout` (by a request's thread: with `[client …]`, to its virtual host's log).",
        "–",
    ),
    c("RWSGI0032", Warning, "`signal.signal()` ignored (`WSGIRestrictSignal On`); the stack follows.", "–"),
    c("RWSGI0040", Error, "Internal error (a Rust panic caught at the Apache boundary).", "500"),
    c("RWSGI0041", Info, "The client closed the connection while the response was being sent.", "–"),
    c("RWSGI0050", Info, "A WSGI script was loaded (first use or changed on disk), and into which interpreter.", "–"),
    c(
        "RWSGI0051",
        Info,
        "A script was preloaded in a daemon process or, for `process-group=%{GLOBAL}`, an Apache child (`WSGIImportScript`, or `process-group=` with `application-group=`).",
        "–",
    ),
    c(
        "RWSGI0052",
        Info,
        "The sub-interpreter of an application group was created in this process (first request or preload for the group).",
        "–",
    ),
    c(
        "RWSGI0053",
        Error,
        "The sub-interpreter of an application group could not be created or set up (`Py_NewInterpreter` failed, or its start-up code raised).",
        "500",
    ),
    c(
        "RWSGI0054",
        Error,
        "The `WSGIDispatchScript` failed: it could not be loaded, one of its functions raised (traceback follows as RWSGI0021) or returned something else than a str or None.",
        "500",
    ),
    c(
        "RWSGI0100",
        Info,
        "A daemon process is ready: Python started, scripts preloaded, worker threads accepting (group, pid, uid, gid, threads, socket).",
        "–",
    ),
    c(
        "RWSGI0101",
        Error,
        "A daemon process could not start (privilege drop, chdir, Python start-up); it exits with status 100 and is restarted after a growing wait.",
        "–",
    ),
    c("RWSGI0102", Error, "Python failed to start in a daemon process (part of RWSGI0101).", "–"),
    c(
        "RWSGI0103",
        Info,
        "A daemon process is shutting down, with the reason (maximum-requests, restart-interval, inactivity-timeout, request-timeout, cpu-time-limit, SIGUSR1, script changed, Apache stopping).",
        "–",
    ),
    c(
        "RWSGI0104",
        Info,
        "The parent saw a daemon process exit or die (status or signal) and restarts it (unless Apache is stopping).",
        "–",
    ),
    c("RWSGI0105", Error, "A daemon worker thread could not be created.", "–"),
    c("RWSGI0106", Info, "A daemon process stopped with requests still running (graceful time over).", "cut"),
    c("RWSGI0107", Warning, "A daemon's user has no usable home directory and no `home=` was given; `/` is used.", "–"),
    c(
        "RWSGI0108",
        Error,
        "A daemon process group keeps failing at start-up (three or more times in a row); the next wait (up to 60 s) and the last exit status are given, the reason is in the process's own lines above.",
        "–",
    ),
    c(
        "RWSGI0109",
        Error,
        "The daemon process spawner cannot run (configuration changed on disk since Apache read it, hand-over broken) or died; a new one is started.",
        "–",
    ),
    c("RWSGI0110", Error, "Unable to connect to the daemon group's socket.", "503"),
    c(
        "RWSGI0111",
        Error,
        "The daemon closed the connection (died) before the complete response, or could not be written to.",
        "502 (cut after the head)",
    ),
    c(
        "RWSGI0112",
        Error,
        "A connection to a daemon socket presented an invalid token (not this Apache): refused.",
        "–",
    ),
    c(
        "RWSGI0113",
        Error,
        "A malformed frame on a daemon connection, or frames out of order from a daemon (body before head, end without head, two heads): refused.",
        "502 if from our child",
    ),
    c("RWSGI0114", Error, "queue-timeout expired before a daemon thread took the request.", "504"),
    c("RWSGI0115", Error, "request-timeout expired; the process is replaced.", "504"),
    c("RWSGI0116", Error, "socket-timeout expired waiting for the daemon.", "504"),
    c(
        "RWSGI0117",
        Error,
        "Reading the request body from the client failed while proxying to the daemon (the app sees an OSError).",
        "–",
    ),
    c(
        "RWSGI0118",
        Error,
        "The selected daemon group does not exist or belongs to another virtual host (for `%{SERVER}`, `%{HOST}`, `%{ENV:var}`: the name computed for the request).",
        "500",
    ),
    c(
        "RWSGI0119",
        Error,
        "The selected daemon group, or embedded mode (`%{GLOBAL}` not in the list), is not allowed by `WSGIRestrictProcess`.",
        "500",
    ),
    c("RWSGI0120", Error, "The parent could not create a group's socket (start-up fails).", "–"),
    c("RWSGI0121", Error, "The parent could not fork a daemon process.", "–"),
    c("RWSGI0122", Error, "A response header from the daemon exceeds `header-buffer-size`.", "500"),
    c(
        "RWSGI0123",
        Error,
        "A daemon sent a response head that breaks the framing rules (see \"Security model\"): CR/LF/NUL, hop-by-hop header, bad or conflicting `Content-Length`, 1xx status, code not matching its status line.",
        "502",
    ),
    c(
        "RWSGI0124",
        Error,
        "A daemon's body went beyond its `Content-Length` (the rest is dropped) or ended short of it (the connection is closed).",
        "cut",
    ),
    c(
        "RWSGI0125",
        Warning,
        "The daemon closed the connection without reading the request (head not sent, or reset before any reply): it did not run and is sent again, at most 3 attempts in all.",
        "– (502 after the last)",
    ),
    c(
        "RWSGI0126",
        Warning,
        "A daemon group's `locale=` is not installed on this system; the process locale stays `C` (LC_ALL is still exported).",
        "–",
    ),
    c(
        "RWSGI0127",
        Error,
        "A `WSGICGIScript On` script was to run in a multithreaded process (embedded mode under event/worker, or a daemon group with `threads=` > 1); use a daemon group with `threads=1`.",
        "500",
    ),
    c(
        "RWSGI0128",
        Error,
        "A `WSGICGIScript On` script produced no CGI header block (no blank line after the headers, a line that is not a header, or neither `Content-Type` nor `Location`).",
        "500",
    ),
    c(
        "RWSGI0130",
        Error,
        "An auth script (`WSGIAccessScript`, `WSGIAuthUserScript`, `WSGIAuthGroupScript`) could not be loaded (traceback follows as RWSGI0021) or its application group could not be created.",
        "500 (`WSGIAuthUserScript`), 403 (`WSGIAccessScript`), 401 (`WSGIAuthGroupScript`)",
    ),
    c(
        "RWSGI0131",
        Error,
        "An auth script has no `allow_access`, `check_password`, `get_realm_hash` or `groups_for_user` function (the one the request needed).",
        "500 (`WSGIAuthUserScript`), 403 (`WSGIAccessScript`), 401 (`WSGIAuthGroupScript`)",
    ),
    c(
        "RWSGI0132",
        Error,
        "An auth script's function raised; traceback follows as RWSGI0021.",
        "500 (`WSGIAuthUserScript`), 403 (`WSGIAccessScript`), 401 (`WSGIAuthGroupScript`)",
    ),
    c(
        "RWSGI0133",
        Error,
        "An auth script's function returned a value of the wrong type (not True/False/None, an empty user name or hash, a group that is not str or bytes).",
        "500 (`WSGIAuthUserScript`), 403 (`WSGIAccessScript`), 401 (`WSGIAuthGroupScript`)",
    ),
    c("RWSGI0134", Error, "`allow_access()` of the `WSGIAccessScript` denied the client.", "403"),
    c(
        "RWSGI0135",
        Error,
        "`Require wsgi-group`: the user is in none of the groups named (or in no group at all).",
        "401",
    ),
    c(
        "RWSGI0136",
        Error,
        "The `wsgi` / `wsgi-group` provider, or an access script, cannot run here: no `WSGIAuthUserScript` / `WSGIAuthGroupScript` applies to the request, or Python is not available in this Apache child.",
        "500 (`wsgi`), 401 (`wsgi-group`), 403 (access)",
    ),
    c(
        "RWSGI0160",
        Error,
        "`script-user=`/`script-group=`: the script, or its directory, is not owned by that user (group), or is writable by group or others (user) / by others (group); the reason is given.",
        "403",
    ),
    c(
        "RWSGI0161",
        Info,
        "`interrupt-timeout`: `mod_wsgi.RequestTimeout` was injected into a request thread past `request-timeout`; it has `interrupt-timeout` seconds to unwind.",
        "–",
    ),
    c(
        "RWSGI0162",
        Info,
        "A request unwound by `mod_wsgi.RequestTimeout`: the thread recovered and the process keeps serving.",
        "504 (cut if after the head)",
    ),
    c(
        "RWSGI0163",
        Error,
        "The client did not read the response for `response-socket-timeout` (else `socket-timeout`) seconds; the response is cut and the daemon thread freed.",
        "cut",
    ),
    c(
        "RWSGI0164",
        Error,
        "`mod_wsgi.RequestTimeout` could not be injected (the application deleted it from its interpreter's `mod_wsgi` module); the request is abandoned when `interrupt-timeout` runs out (RWSGI0115).",
        "–",
    ),
    c(
        "RWSGI0165",
        Info,
        "A `threads=0` daemon process (service scripts) finished its `WSGIImportScript`s, or was stopped; it exits and is started again.",
        "–",
    ),
    c(
        "RWSGI0166",
        Error,
        "A request was sent to a `threads=0` daemon group (service scripts only; it serves no requests).",
        "500",
    ),
    c(
        "RWSGI0170",
        Info,
        "A record logged by the application through `mod_wsgi.LogHandler`, at the record's level (CRITICAL and ERROR as error, WARNING as warning, INFO as info, DEBUG as debug).",
        "–",
    ),
    c(
        "RWSGI0171",
        Error,
        "Publishing a `mod_wsgi` event (`subscribe_events`) failed inside mod_wsgi_rs itself (not in a subscriber); the request goes on.",
        "–",
    ),
    c(
        "RWSGI0172",
        Error,
        "A `mod_wsgi.subscribe_events` / `subscribe_shutdown` callback raised; its traceback follows and the other subscribers still run.",
        "–",
    ),
    c(
        "RWSGI0180",
        Info,
        "An idle pooled connection to a daemon group was closed by its daemon process (recycled, restarted, killed) before it read the request: the request did not run and goes on a new connection (once, not counted as an attempt).",
        "–",
    ),
    c(
        "RWSGI0181",
        Error,
        "A daemon process could not create the epoll instance its worker threads wait on (descriptors or memory exhausted): it is recycled.",
        "–",
    ),
    c(
        "RWSGI0185",
        Error,
        "A file a daemon process passed as a descriptor (`wsgi.file_wrapper`, `ResponseFile`) cannot be relayed: not a regular file, or the range announced runs past its end (the application truncated the file, or the daemon process lies).",
        "502, or the response is cut",
    ),
    c(
        "RWSGI0186",
        Level::Debug,
        "A file from a daemon process was handed to Apache as a file bucket on a descriptor the daemon passed (sendfile or mmap as for a static file; no byte through the daemon socket).",
        "–",
    ),
    c(
        "RWSGI0187",
        Level::Debug,
        "A file passed by a daemon process could not be reopened by the Apache child's user (it is readable by the daemon's user only): its bytes are copied from the passed descriptor with `pread`.",
        "–",
    ),
];

/// `"RWSGInnnn: message"`: the one way a coded log line is made, in every logging path of both
/// processes. The code must be listed in [`CODES`] (checked at compile time); the rest is
/// `format!` arguments.
#[macro_export]
macro_rules! coded {
    ($code:literal, $($arg:tt)+) => {{
        const _: () = assert!($crate::codes::is_listed($code), concat!($code, " is not listed in core/src/codes.rs"));
        format!(concat!($code, ": {}"), format_args!($($arg)+))
    }};
}

/// Whether `code` is in [`CODES`] (usable in constants).
pub const fn is_listed(code: &str) -> bool {
    let mut i = 0;
    while i < CODES.len() {
        let (a, b) = (CODES[i].code.as_bytes(), code.as_bytes());
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return true;
            }
        }
        i += 1;
    }
    false
}

/// The entry of `code` (e.g. "RWSGI0023").
pub fn lookup(code: &str) -> Option<&'static Code> {
    CODES.iter().find(|c| c.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn repo() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
    }

    fn codes_in(text: &str) -> BTreeSet<String> {
        let b = text.as_bytes();
        let mut out = BTreeSet::new();
        for i in 0..b.len().saturating_sub(8) {
            if &b[i..i + 5] == b"RWSGI" && b[i + 5..i + 9].iter().all(u8::is_ascii_digit) {
                out.insert(text[i..i + 9].to_string());
            }
        }
        out
    }

    fn sources(dir: &Path, out: &mut String) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                // Tests may name codes without logging them: only product code counts.
                if !p.ends_with("tests") {
                    sources(&p, out);
                }
            } else if p.extension().is_some_and(|x| x == "rs" || x == "py") && !p.ends_with("codes.rs") {
                out.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }

    #[test]
    fn sorted_and_unique() {
        for w in CODES.windows(2) {
            assert!(w[0].code < w[1].code, "{} before {}", w[0].code, w[1].code);
        }
        assert_eq!(lookup("RWSGI0023").map(|c| c.level), Some(Level::Error));
        assert!(lookup("RWSGI9999").is_none());
    }

    #[test]
    fn readme_error_reference_matches() {
        let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
        let rows: Vec<String> = readme.lines().filter(|l| l.starts_with("| RWSGI")).map(str::to_string).collect();
        let want: Vec<String> = CODES
            .iter()
            .map(|c| format!("| {} | {} | {} | {} |", c.code, c.level.name(), c.meaning, c.client))
            .collect();
        assert_eq!(rows, want, "README error reference and core/src/codes.rs differ");
    }

    /// (level, code) of every `LogLevel::X, &coded!("RWSGInnnn", …` call in `text`.
    fn leveled_calls(text: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (i, _) in text.match_indices("LogLevel::") {
            let rest = &text[i + "LogLevel::".len()..];
            let level: String = rest.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
            let rest = rest[level.len()..].trim_start();
            let Some(rest) = rest.strip_prefix(',') else { continue };
            let rest = rest.trim_start();
            let Some(rest) =
                ["&wsgi_rs_core::coded!(", "&crate::coded!(", "&format!("].iter().find_map(|p| rest.strip_prefix(p))
            else {
                continue;
            };
            let Some(rest) = rest.trim_start().strip_prefix('"') else { continue };
            if rest.len() >= 9 && rest.starts_with("RWSGI") && rest.as_bytes()[5..9].iter().all(u8::is_ascii_digit) {
                out.push((level.to_ascii_lowercase(), rest[..9].to_string()));
            }
        }
        out
    }

    #[test]
    fn logged_levels_match_the_list() {
        let mut text = String::new();
        sources(&repo().join("src"), &mut text);
        sources(&repo().join("core").join("src"), &mut text);
        let calls = leveled_calls(&text);
        assert!(calls.len() > 40, "the scan found too few log calls: {}", calls.len());
        for (level, code) in calls {
            let c = lookup(&code).unwrap_or_else(|| panic!("{code} is not listed"));
            assert_eq!(level, c.level.name(), "{code} is logged at {level} but listed as {}", c.level.name());
        }
        assert_eq!(
            leveled_calls("rlog(r, LogLevel::Info, &format!(\"RWSGI0041: x\"))"),
            [("info".into(), "RWSGI0041".into())]
        );
    }

    #[test]
    fn every_logged_code_is_listed_and_every_listed_code_is_logged() {
        let mut text = String::new();
        sources(&repo().join("src"), &mut text);
        sources(&repo().join("core").join("src"), &mut text);
        let used = codes_in(&text);
        let listed: BTreeSet<String> = CODES.iter().map(|c| c.code.to_string()).collect();
        let unlisted: Vec<_> = used.difference(&listed).collect();
        let unused: Vec<_> = listed.difference(&used).collect();
        assert!(unlisted.is_empty(), "codes logged but not in CODES: {unlisted:?}");
        assert!(unused.is_empty(), "codes in CODES that nothing logs: {unused:?}");
    }
}
