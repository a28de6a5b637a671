//! interrupt-timeout: the thread that injects `mod_wsgi.RequestTimeout` into requests the
//! monitor found past request-timeout. The monitor never takes the GIL (a wedged GIL must not
//! stop it from seeing deadlock-timeout or abandoning requests): it notes the interruption in
//! the slot (so the interrupt-timeout clock runs whatever happens here) and hands the job to
//! this thread, which takes the GIL, checks the slot still runs that request, and injects.
use std::sync::{Arc, Mutex};

use crossbeam_channel::Sender;

use super::config::DaemonConfig;
use super::state::State;
use crate::hostlog::host_log;
use crate::wsgi::LogLevel;

/// One request to interrupt: its slot, and the slot's `start_us` when the monitor decided.
pub struct Job {
    pub slot: usize,
    pub start_us: i64,
}

/// The injecting thread. `stop()` before Python is finalised: the thread then never attaches
/// again (the mutex makes "check, then attach" atomic against it; the thread runs no
/// application code while holding it).
pub struct Interrupter {
    jobs: Sender<Job>,
    stopped: Arc<Mutex<bool>>,
}

impl Interrupter {
    /// Starts the thread; `None` if it could not start (requests past request-timeout are
    /// then abandoned when their interrupt-timeout runs out, as if it had not landed).
    pub fn start(cfg: Arc<DaemonConfig>, state: Arc<State>) -> Option<Self> {
        let (jobs, rx) = crossbeam_channel::unbounded::<Job>();
        let stopped = Arc::new(Mutex::new(false));
        let flag = stopped.clone();
        std::thread::Builder::new()
            .name("wsgi-interrupt".into())
            .spawn(move || {
                for job in rx {
                    let stopped = flag.lock().unwrap_or_else(|e| e.into_inner());
                    if *stopped {
                        return;
                    }
                    inject(&cfg, &state, &job);
                }
            })
            .ok()?;
        Some(Interrupter { jobs, stopped })
    }

    pub fn send(&self, job: Job) {
        let _ = self.jobs.send(job);
    }

    /// Stops the thread from attaching again. `false` if it could not be stopped within a second:
    /// it is then inside an injection, waiting for a GIL someone holds (a request wedged in a C
    /// extension), and Python must not be finalised under it. Never blocks for longer.
    pub fn stop(&self) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            match self.stopped.try_lock() {
                Ok(mut s) => {
                    *s = true;
                    return true;
                }
                Err(std::sync::TryLockError::Poisoned(p)) => {
                    *p.into_inner() = true;
                    return true;
                }
                Err(std::sync::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(std::sync::TryLockError::WouldBlock) => return false,
            }
        }
    }
}

fn inject(cfg: &DaemonConfig, state: &State, job: &Job) {
    let slot = &state.slots[job.slot];
    let ident = slot.ident.load(std::sync::atomic::Ordering::Acquire);
    let group = slot.app_group.lock().unwrap_or_else(|e| e.into_inner()).clone();
    // Checked under the GIL, so the thread runs no bytecode meanwhile: if the slot still shows
    // this request, its thread is inside it, or past its last bytecode and not yet past the
    // slot's reset; then the worker notes the interruption after the reset and its next
    // request in that group drops the injection first (`wsgi::note_interrupted`).
    let still = || slot.start_us.load(std::sync::atomic::Ordering::SeqCst) == job.start_us;
    let where_ =
        if group.is_empty() { "the main interpreter".to_string() } else { format!("application group '{group}'") };
    match crate::wsgi::inject_request_timeout(&group, ident, still) {
        Ok(true) => host_log(
            LogLevel::Info,
            &crate::coded!(
                "RWSGI0161",
                "Injected mod_wsgi.RequestTimeout into thread {} of daemon process '{}' (pid {}, {where_}): its request exceeded request-timeout={} s; it has interrupt-timeout={} s to unwind.",
                job.slot,
                cfg.group,
                std::process::id(),
                cfg.request_timeout,
                cfg.interrupt_timeout
            ),
        ),
        Ok(false) => {}
        Err(e) => host_log(
            LogLevel::Error,
            &crate::coded!(
                "RWSGI0164",
                "Cannot inject mod_wsgi.RequestTimeout into thread {} of daemon process '{}' (pid {}, {where_}): {e}",
                job.slot,
                cfg.group,
                std::process::id()
            ),
        ),
    }
}
