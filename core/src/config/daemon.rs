//! `WSGIDaemonProcess name [key=value ...]`: the options of a daemon process group, with mod_wsgi's
//! names, defaults and meaning (mod_wsgi 6.0.5 `wsgi_add_daemon_process`).
//!
//! Deliberate differences from mod_wsgi, all of them stricter: an option given twice, a number
//! with trailing garbage (`atoi("2x")` is 2 in mod_wsgi) and an option that mod_wsgi accepts but
//! this version refuses (`chroot=`, see [`REFUSED`]) are configuration errors, never silently
//! ignored.
//! User and group names are kept as written; resolving them (and refusing a name that resolves to
//! uid 0) is the caller's job.

const DIRECTIVE: &str = "WSGIDaemonProcess";

/// mod_wsgi stores timeouts and counts in a C `int`; capping there also keeps `Instant + secs`
/// from overflowing later.
const INT_MAX: u64 = i32::MAX as u64;
/// mod_wsgi: `threads < WSGI_STACK_LAST - 1` (0xffff - 1).
const MAX_THREADS: u64 = 0xffff - 2;

pub const DEFAULT_THREADS: u32 = 15;
pub const DEFAULT_DEADLOCK_TIMEOUT: u64 = 300;
pub const DEFAULT_GRACEFUL_TIMEOUT: u64 = 15;
pub const DEFAULT_SHUTDOWN_TIMEOUT: u64 = 5;
pub const DEFAULT_CONNECT_TIMEOUT: u64 = 15;
pub const DEFAULT_LISTEN_BACKLOG: u32 = 100;
pub const DEFAULT_HEADER_BUFFER_SIZE: u32 = 32768;
pub const DEFAULT_RESPONSE_BUFFER_SIZE: u32 = 8 * 1024 * 1024;
/// mod_wsgi 6.0.2: milliseconds the Apache child waits for more response data before flushing.
pub const DEFAULT_RESPONSE_FLUSH_DELAY_MS: u64 = 5;

/// Every option we implement, in mod_wsgi's documentation order.
const SUPPORTED: &[&str] = &[
    "processes",
    "threads",
    "user",
    "group",
    "supplementary-groups",
    "home",
    "python-home",
    "python-path",
    "python-eggs",
    "lang",
    "locale",
    "umask",
    "display-name",
    "socket-user",
    "maximum-requests",
    "restart-interval",
    "inactivity-timeout",
    "request-timeout",
    "startup-timeout",
    "deadlock-timeout",
    "graceful-timeout",
    "shutdown-timeout",
    "connect-timeout",
    "socket-timeout",
    "queue-timeout",
    "listen-backlog",
    "header-buffer-size",
    "response-buffer-size",
    "send-buffer-size",
    "receive-buffer-size",
    "stack-size",
    "cpu-priority",
    "memory-limit",
    "virtual-memory-limit",
    "script-user",
    "script-group",
    "interrupt-timeout",
    "eviction-timeout",
    "cpu-time-limit",
    "server-metrics",
    "switch-interval",
    "response-socket-timeout",
    "response-flush-delay",
];

/// Options mod_wsgi 6.0.5 accepts that this module refuses on purpose, with the reason.
pub const REFUSED: &[(&str, &str)] = &[(
    "chroot",
    "chroot= is not supported by mod_wsgi_rs (deprecated in mod_wsgi too): a jail would need its own copy of \
     Python, its standard library, every extension module and the application, all imported after the chroot, \
     and chroot alone is no security boundary. Confine the whole Apache service instead: a container, or \
     systemd's RootDirectory=/RootImage=, ProtectSystem=strict, ReadOnlyPaths= and PrivateTmp=",
)];

/// `script-user=` / `script-group=`: who must own a script (and its directory) delegated to
/// the group. Names or `#id`s as written; resolving them is the caller's job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptOwner {
    User(String),
    Group(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonOptions {
    pub name: String,
    /// Default 1, at least 1.
    pub processes: u32,
    /// `processes=` was given at all (even `processes=1`): then `wsgi.multiprocess` is True.
    pub processes_given: bool,
    /// Request threads per process; default 15, 0..=65533. 0 is mod_wsgi's service-script mode:
    /// no request is served, the process runs its `WSGIImportScript`s and is replaced when they
    /// return.
    pub threads: u32,
    /// User name or `#uid`, as written; never `root` or `#0`. None = Apache's `User`.
    pub user: Option<String>,
    /// Group name or `#gid`, as written. None = Apache's `Group`.
    pub group: Option<String>,
    /// Names or `#gid`s for `setgroups()`; empty = not given (then `initgroups(user)`).
    pub supplementary_groups: Vec<String>,
    /// Absolute working directory.
    pub home: Option<String>,
    /// Absolute `sys.prefix` / virtual environment.
    pub python_home: Option<String>,
    /// `site.addsitedir` entries (`:`-separated in the directive, empty entries dropped).
    pub python_path: Vec<String>,
    pub python_eggs: Option<String>,
    pub lang: Option<String>,
    pub locale: Option<String>,
    /// 0..=0o777; None = inherited.
    pub umask: Option<u32>,
    /// Raw; see [`display_title`].
    pub display_name: Option<String>,
    /// Owner of the listener socket (name or `#uid`); None = Apache's `User`.
    pub socket_user: Option<String>,
    /// 0 = off.
    pub maximum_requests: u64,
    /// Seconds; 0 = off (same for the other timeouts unless noted).
    pub restart_interval: u64,
    pub inactivity_timeout: u64,
    pub request_timeout: u64,
    pub startup_timeout: u64,
    /// Default 300.
    pub deadlock_timeout: u64,
    /// Default 15.
    pub graceful_timeout: u64,
    /// Default 5.
    pub shutdown_timeout: u64,
    /// Default 15.
    pub connect_timeout: u64,
    /// None (also for `socket-timeout=0`, as in mod_wsgi) = Apache's `Timeout`.
    pub socket_timeout: Option<u64>,
    pub queue_timeout: u64,
    /// Default 100, at least 1.
    pub listen_backlog: u32,
    /// Default 32768, at least 8192 (`0` means the default, as in mod_wsgi).
    pub header_buffer_size: u32,
    /// Default 8 MiB, at least 65536 (`0` means the default, as in mod_wsgi).
    pub response_buffer_size: u32,
    /// 0 = OS default, else at least 512.
    pub send_buffer_size: u32,
    /// 0 = OS default, else at least 512.
    pub receive_buffer_size: u32,
    /// Bytes, at least 65536; None = the OS default.
    pub stack_size: Option<u64>,
    /// -20..=19; None (also for `cpu-priority=0`, as in mod_wsgi) = no `setpriority`.
    pub cpu_priority: Option<i32>,
    /// `RLIMIT_DATA` bytes; None (also for `0`) = no limit.
    pub memory_limit: Option<u64>,
    /// `RLIMIT_AS` bytes; None (also for `0`) = no limit.
    pub virtual_memory_limit: Option<u64>,
    /// `script-user=` or `script-group=` (mod_wsgi allows only one of them).
    pub script_owner: Option<ScriptOwner>,
    /// Seconds a request interrupted at request-timeout (`mod_wsgi.RequestTimeout` injected)
    /// gets to unwind before the process is replaced; 0 = no interruption.
    pub interrupt_timeout: u64,
    /// Seconds given to running requests after SIGUSR1 (graceful restart of the process);
    /// 0 = graceful-timeout.
    pub eviction_timeout: u64,
    /// `RLIMIT_CPU` soft limit in seconds (a graceful restart when reached); 0 = none.
    pub cpu_time_limit: u64,
    /// `server-metrics=On`: `mod_wsgi.server_metrics()` allowed in this group (default Off).
    pub server_metrics: bool,
    /// `sys.setswitchinterval()` in this group's processes, in nanoseconds (kept whole so the
    /// options stay `Eq`); None = the server-wide `WSGISwitchInterval`, else Python's default.
    pub switch_interval_ns: Option<u64>,
    /// Seconds an Apache child waits to write the response to the client; None (also for `0`)
    /// = socket-timeout (then Apache's `Timeout`).
    pub response_socket_timeout: Option<u64>,
    /// Milliseconds an Apache child waits for more response data before flushing; default 5.
    pub response_flush_delay_ms: u64,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            name: String::new(),
            processes: 1,
            processes_given: false,
            threads: DEFAULT_THREADS,
            user: None,
            group: None,
            supplementary_groups: Vec::new(),
            home: None,
            python_home: None,
            python_path: Vec::new(),
            python_eggs: None,
            lang: None,
            locale: None,
            umask: None,
            display_name: None,
            socket_user: None,
            maximum_requests: 0,
            restart_interval: 0,
            inactivity_timeout: 0,
            request_timeout: 0,
            startup_timeout: 0,
            deadlock_timeout: DEFAULT_DEADLOCK_TIMEOUT,
            graceful_timeout: DEFAULT_GRACEFUL_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            socket_timeout: None,
            queue_timeout: 0,
            listen_backlog: DEFAULT_LISTEN_BACKLOG,
            header_buffer_size: DEFAULT_HEADER_BUFFER_SIZE,
            response_buffer_size: DEFAULT_RESPONSE_BUFFER_SIZE,
            send_buffer_size: 0,
            receive_buffer_size: 0,
            stack_size: None,
            cpu_priority: None,
            memory_limit: None,
            virtual_memory_limit: None,
            script_owner: None,
            interrupt_timeout: 0,
            eviction_timeout: 0,
            cpu_time_limit: 0,
            server_metrics: false,
            switch_interval_ns: None,
            response_socket_timeout: None,
            response_flush_delay_ms: DEFAULT_RESPONSE_FLUSH_DELAY_MS,
        }
    }
}

impl DaemonOptions {
    /// `switch-interval=` in seconds, for `sys.setswitchinterval()`.
    pub fn switch_interval(&self) -> Option<f64> {
        self.switch_interval_ns.map(|ns| ns as f64 / 1e9)
    }
}

/// The process title `ps` shows: `display-name=%{GROUP}` gives `(wsgi:NAME)`, any other value is
/// shown as written (mod_wsgi expands `%{GROUP}` only when it is the whole value). None if unset.
pub fn display_title(o: &DaemonOptions) -> Option<String> {
    o.display_name.as_ref().map(|d| if d == "%{GROUP}" { format!("(wsgi:{})", o.name) } else { d.clone() })
}

/// Parses the directive's arguments; `args[0]` is the group name, the rest are `key=value`.
pub fn parse_daemon_process(args: &[&str]) -> Result<DaemonOptions, String> {
    let Some((&name, options)) = args.split_first() else {
        return Err(format!("{DIRECTIVE}: the name of the daemon process group is missing"));
    };
    check_name(name)?;
    let p = Parser { name };
    let mut o = DaemonOptions { name: name.to_string(), ..DaemonOptions::default() };
    let mut seen: Vec<&str> = Vec::new();
    for &arg in options {
        let Some((key, value)) = arg.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(p.err(format!("invalid option '{arg}', expected name=value")));
        };
        if let Some((_, why)) = REFUSED.iter().find(|(k, _)| *k == key) {
            return Err(p.err((*why).to_string()));
        }
        if !SUPPORTED.contains(&key) {
            return Err(p.err(unknown_option(key)));
        }
        if seen.contains(&key) {
            return Err(p.err(format!("option '{key}' given twice")));
        }
        seen.push(key);
        p.apply(&mut o, key, value)?;
    }
    if seen.contains(&"script-user") && seen.contains(&"script-group") {
        return Err(p.err("only one of script-user= and script-group= may be given".into()));
    }
    Ok(o)
}

fn check_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("{DIRECTIVE}: invalid daemon process group name '{name}': {why}"));
    if name.is_empty() {
        return Err(format!("{DIRECTIVE}: the name of the daemon process group is missing"));
    }
    if name.starts_with('%') {
        return bad("names starting with '%' are reserved (%{GLOBAL}, %{ENV:...} and so on)");
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("it must not contain whitespace or control characters");
    }
    if name.contains('/') {
        return bad("it must not contain '/'");
    }
    if name.contains('=') {
        // `WSGIDaemonProcess processes=2`: mod_wsgi would name the group "processes=2".
        return bad("the first argument is the group name, and it must not contain '='");
    }
    Ok(())
}

fn unknown_option(key: &str) -> String {
    let normalised = key.to_ascii_lowercase().replace('_', "-");
    if normalised != key && (SUPPORTED.contains(&normalised.as_str()) || REFUSED.iter().any(|(k, _)| *k == normalised))
    {
        return format!("unknown option '{key}' (did you mean '{normalised}'? option names are lower case with '-')");
    }
    format!("unknown option '{key}' (valid options: {})", SUPPORTED.join(", "))
}

struct Parser<'a> {
    name: &'a str,
}

impl Parser<'_> {
    fn err(&self, msg: String) -> String {
        format!("{DIRECTIVE} {}: {msg}", self.name)
    }

    fn invalid(&self, key: &str, value: &str, expected: &str) -> String {
        self.err(format!("invalid value '{value}' for option '{key}' (expected {expected})"))
    }

    /// A decimal integer of digits only, within `min..=max`.
    fn uint(&self, key: &str, value: &str, min: u64, max: u64, expected: &str) -> Result<u64, String> {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.invalid(key, value, expected));
        }
        match value.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(self.invalid(key, value, expected)),
        }
    }

    fn seconds(&self, key: &str, value: &str) -> Result<u64, String> {
        self.uint(key, value, 0, INT_MAX, "a whole number of seconds, 0 to 2147483647")
    }

    /// `0` (meaning `zero_means`) or a size within `min..=INT_MAX`.
    fn size_or_zero(&self, key: &str, value: &str, min: u64, zero_means: &str) -> Result<u32, String> {
        let expected = format!("0 for {zero_means}, or a number of bytes from {min} to {INT_MAX}");
        let n = self.uint(key, value, 0, INT_MAX, &expected)?;
        if n != 0 && n < min {
            return Err(self.invalid(key, value, &expected));
        }
        Ok(n as u32)
    }

    fn absolute_path(&self, key: &str, value: &str) -> Result<String, String> {
        if !value.starts_with('/') {
            return Err(self.invalid(key, value, "an absolute path"));
        }
        Ok(value.to_string())
    }

    /// `name` or `#number`.
    fn principal(&self, key: &str, value: &str, kind: &str) -> Result<String, String> {
        let expected = format!("a {kind} name or #{kind}id");
        let ok = match value.strip_prefix('#') {
            Some(id) => !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && id.parse::<u32>().is_ok(),
            None => !value.is_empty() && !value.contains(|c: char| c.is_whitespace() || c.is_control()),
        };
        if !ok {
            return Err(self.invalid(key, value, &expected));
        }
        Ok(value.to_string())
    }

    fn apply(&self, o: &mut DaemonOptions, key: &str, value: &str) -> Result<(), String> {
        match key {
            "processes" => {
                o.processes = self.uint(key, value, 1, INT_MAX, "a positive integer")? as u32;
                o.processes_given = true;
            }
            "threads" => {
                let expected = format!("0 (service scripts only) or a number of threads up to {MAX_THREADS}");
                o.threads = self.uint(key, value, 0, MAX_THREADS, &expected)? as u32;
            }
            "user" => {
                let user = self.principal(key, value, "user")?;
                if user == "root" || user.strip_prefix('#').and_then(|id| id.parse::<u32>().ok()) == Some(0) {
                    return Err(self.err(format!("user={user} is not allowed: daemon processes must not run as root")));
                }
                o.user = Some(user);
            }
            "group" => o.group = Some(self.principal(key, value, "group")?),
            "supplementary-groups" => {
                let groups: Vec<String> = value
                    .split(',')
                    .filter(|g| !g.is_empty())
                    .map(|g| {
                        self.principal(key, g, "group")
                            .map_err(|_| self.invalid(key, value, "a comma-separated list of group names or #gids"))
                    })
                    .collect::<Result<_, _>>()?;
                if groups.is_empty() {
                    // mod_wsgi would call setgroups() with the primary group only; refusing is
                    // safer than falling back to initgroups() and granting more groups.
                    return Err(self.invalid(key, value, "a comma-separated list of group names or #gids"));
                }
                o.supplementary_groups = groups;
            }
            "home" => o.home = Some(self.absolute_path(key, value)?),
            "python-home" => o.python_home = Some(self.absolute_path(key, value)?),
            "python-path" => {
                o.python_path = value.split(':').filter(|p| !p.is_empty()).map(str::to_string).collect();
            }
            "python-eggs" => o.python_eggs = Some(value.to_string()),
            "lang" => o.lang = Some(value.to_string()),
            "locale" => o.locale = Some(value.to_string()),
            "umask" => {
                let expected = "an octal mask from 0 to 0777, such as 0022";
                let digits = value.strip_prefix("0o").or_else(|| value.strip_prefix("0O")).unwrap_or(value);
                if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                    return Err(self.invalid(key, value, expected));
                }
                match u32::from_str_radix(digits, 8) {
                    Ok(m) if m <= 0o777 => o.umask = Some(m),
                    _ => return Err(self.invalid(key, value, expected)),
                }
            }
            "display-name" => o.display_name = Some(value.to_string()),
            "socket-user" => o.socket_user = Some(self.principal(key, value, "user")?),
            "maximum-requests" => {
                o.maximum_requests = self.uint(key, value, 0, INT_MAX, "a number of requests, 0 for no limit")?;
            }
            "restart-interval" => o.restart_interval = self.seconds(key, value)?,
            "inactivity-timeout" => o.inactivity_timeout = self.seconds(key, value)?,
            "request-timeout" => o.request_timeout = self.seconds(key, value)?,
            "startup-timeout" => o.startup_timeout = self.seconds(key, value)?,
            "deadlock-timeout" => o.deadlock_timeout = self.seconds(key, value)?,
            "graceful-timeout" => o.graceful_timeout = self.seconds(key, value)?,
            "shutdown-timeout" => o.shutdown_timeout = self.seconds(key, value)?,
            "connect-timeout" => o.connect_timeout = self.seconds(key, value)?,
            "socket-timeout" => o.socket_timeout = Some(self.seconds(key, value)?).filter(|&s| s != 0),
            "queue-timeout" => o.queue_timeout = self.seconds(key, value)?,
            "listen-backlog" => {
                o.listen_backlog = self.uint(key, value, 1, INT_MAX, "a positive integer")? as u32;
            }
            "header-buffer-size" => {
                let n = self.size_or_zero(key, value, 8192, "the default")?;
                o.header_buffer_size = if n == 0 { DEFAULT_HEADER_BUFFER_SIZE } else { n };
            }
            "response-buffer-size" => {
                let n = self.size_or_zero(key, value, 65536, "the default")?;
                o.response_buffer_size = if n == 0 { DEFAULT_RESPONSE_BUFFER_SIZE } else { n };
            }
            "send-buffer-size" => o.send_buffer_size = self.size_or_zero(key, value, 512, "the OS default")?,
            "receive-buffer-size" => o.receive_buffer_size = self.size_or_zero(key, value, 512, "the OS default")?,
            "stack-size" => {
                let expected = format!("a number of bytes from 65536 to {INT_MAX}");
                o.stack_size = Some(self.uint(key, value, 65536, INT_MAX, &expected)?);
            }
            "cpu-priority" => {
                let expected = "an integer from -20 to 19";
                let (negative, digits) = match value.strip_prefix('-') {
                    Some(d) => (true, d),
                    None => (false, value),
                };
                let n = self.uint(key, digits, 0, 20, expected).map_err(|_| self.invalid(key, value, expected))? as i32;
                let n = if negative { -n } else { n };
                if n > 19 {
                    return Err(self.invalid(key, value, expected));
                }
                o.cpu_priority = Some(n).filter(|&p| p != 0);
            }
            "memory-limit" | "virtual-memory-limit" => {
                let n = self.uint(key, value, 0, i64::MAX as u64, "a number of bytes, 0 for no limit")?;
                let limit = Some(n).filter(|&n| n != 0);
                if key == "memory-limit" {
                    o.memory_limit = limit;
                } else {
                    o.virtual_memory_limit = limit;
                }
            }
            "script-user" => o.script_owner = Some(ScriptOwner::User(self.principal(key, value, "user")?)),
            "script-group" => o.script_owner = Some(ScriptOwner::Group(self.principal(key, value, "group")?)),
            "interrupt-timeout" => o.interrupt_timeout = self.seconds(key, value)?,
            "eviction-timeout" => o.eviction_timeout = self.seconds(key, value)?,
            "cpu-time-limit" => o.cpu_time_limit = self.seconds(key, value)?,
            "server-metrics" => {
                o.server_metrics = match value.to_ascii_lowercase().as_str() {
                    "on" => true,
                    "off" => false,
                    _ => return Err(self.invalid(key, value, "On or Off")),
                }
            }
            "switch-interval" => {
                let expected = "a positive number of seconds, such as 0.005";
                let plain = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit() || b == b'.');
                let secs: f64 =
                    value.parse().ok().filter(|_| plain).ok_or_else(|| self.invalid(key, value, expected))?;
                let ns = (secs * 1e9).round();
                if !(1.0..=(INT_MAX as f64) * 1e9).contains(&ns) {
                    return Err(self.invalid(key, value, expected));
                }
                o.switch_interval_ns = Some(ns as u64);
            }
            "response-socket-timeout" => {
                o.response_socket_timeout = Some(self.seconds(key, value)?).filter(|&s| s != 0);
            }
            "response-flush-delay" => {
                o.response_flush_delay_ms = self.uint(key, value, 0, 60_000, "a number of milliseconds, 0 to 60000")?;
            }
            _ => return Err(self.err(format!("option '{key}' has no parser (internal error)"))),
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "daemon_tests.rs"]
mod tests;
