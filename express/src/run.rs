//! setup-server (write the files) and start-server (write them, then run Apache in the
//! foreground until it exits or we are told to stop).
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::Fail;
use crate::cli::AppType;
use crate::plan::{Plan, module_script};
use crate::{conf, sys};

/// How long Apache gets to stop after SIGTERM before it is killed (its own stop waits at most a
/// few seconds for children, and daemon processes have shutdown-timeout=5).
const STOP_GRACE: Duration = Duration::from_secs(30);

fn write(path: &Path, text: &str, mode: u32) -> Result<(), Fail> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)))
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| Fail(format!("cannot write {}: {e}", path.display())))
}

/// Writes httpd.conf, apachectl and (module type) the generated script into the server root.
pub fn setup(p: &Plan, command_line: &str) -> Result<(), Fail> {
    if p.app_type == AppType::Module {
        write(&p.target, &module_script(&p.target_arg, &p.callable), 0o644)?;
    }
    write(&p.conf_path(), &conf::httpd_conf(p, command_line), 0o644)?;
    write(&p.root.join("apachectl"), &conf::apachectl(p), 0o755)
}

fn urls(p: &Plan) -> String {
    let host = if p.host.contains(':') { format!("[{}]", p.host) } else { p.host.clone() };
    let mount = if p.mount == "/" { "/".to_string() } else { format!("{}/", p.mount) };
    let mut s = format!("http://{host}:{}{mount}", p.port);
    if let Some(h) = &p.https {
        s += &format!(" and https://{host}:{}{mount}", h.port);
    }
    s
}

pub fn setup_server(p: &Plan, command_line: &str) -> Result<i32, Fail> {
    setup(p, command_line)?;
    println!("{}", p.conf_path().display());
    eprintln!(
        "wsgi-express: wrote {} and {}; `{} start` serves {}",
        p.conf_path().display(),
        p.root.join("apachectl").display(),
        p.root.join("apachectl").display(),
        urls(p)
    );
    Ok(0)
}

/// Copies `from` to `to` line by line as it comes (a thread); signals `done` at end of file.
fn relay(mut from: impl Read + Send + 'static, mut to: impl Write + Send + 'static, done: mpsc::Sender<()>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).and_then(|_| to.flush()).is_err() {
                break;
            }
        }
        let _ = done.send(());
    });
}

/// Runs Apache in the foreground. Returns our exit status: 0 after a stop we asked for,
/// otherwise Apache's own status.
pub fn start_server(p: &Plan, command_line: &str) -> Result<i32, Fail> {
    setup(p, command_line)?;
    sys::catch_stop_signals();
    let mut cmd = Command::new(&p.httpd);
    cmd.arg("-f").arg(p.conf_path()).arg("-DFOREGROUND");
    sys::tie_to_parent(&mut cmd);
    // Apache reopens /dev/stdout and /dev/stderr (its log files): give it pipes of ours, which
    // it can always reopen, and relay them. Our own stdout/stderr may be a socket (journald), a
    // file of another user or a terminal; reopening those can fail.
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| Fail(format!("cannot run {}: {e}", p.httpd.display())))?;
    let pid = child.id();
    let (done_tx, done_rx) = mpsc::channel();
    let mut relays = 0;
    if let Some(r) = child.stdout.take() {
        relay(r, std::io::stdout(), done_tx.clone());
        relays += 1;
    }
    if let Some(r) = child.stderr.take() {
        relay(r, std::io::stderr(), done_tx);
        relays += 1;
    }
    eprintln!(
        "wsgi-express: serving {} on {} (Apache pid {pid}, config {}); Ctrl-C stops",
        p.target.display(),
        urls(p),
        p.conf_path().display()
    );
    let mut stopping: Option<Instant> = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) => {}
            Err(e) => return Err(Fail(format!("waiting for Apache (pid {pid}): {e}"))),
        }
        if let Some(sig) = sys::take_signal() {
            if stopping.is_none() {
                eprintln!("wsgi-express: signal {sig}: stopping Apache (pid {pid})");
                stopping = Some(Instant::now());
            }
            sys::send(pid, libc::SIGTERM);
        }
        if stopping.is_some_and(|t| t.elapsed() > STOP_GRACE) {
            eprintln!("wsgi-express: Apache (pid {pid}) did not stop within {}s; killing it", STOP_GRACE.as_secs());
            sys::send(pid, libc::SIGKILL);
            stopping = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // The relays end when every holder of the pipes (Apache's children too) has exited; do not
    // hang on one that has not.
    for _ in 0..relays {
        if done_rx.recv_timeout(Duration::from_secs(5)).is_err() {
            break;
        }
    }
    if stopping.is_some() {
        eprintln!("wsgi-express: stopped");
        return Ok(if status.success() { 0 } else { status.code().unwrap_or(1) });
    }
    match status.code() {
        Some(0) => Ok(0),
        Some(c) => Err(Fail(format!("Apache exited with status {c} (its error log is above)"))),
        None => Err(Fail(format!("Apache was killed by a signal ({status})"))),
    }
}
