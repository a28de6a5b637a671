//! `mod_wsgi.server_metrics()`: the Apache scoreboard as a dict (mod_wsgi's key names).
//!
//! The host installs a reader ([`set_reader`]) only where the scoreboard can be read and the
//! gate is open (`WSGIServerMetrics On`, in Apache children); elsewhere the function returns
//! `None`, as mod_wsgi does when the gate is off.
use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// One worker slot of the scoreboard.
#[derive(Debug, Clone, Default)]
pub struct WorkerScore {
    pub thread_num: u32,
    pub generation: i32,
    /// mod_status's letter: `_` waiting, `R` reading, `W` writing, `K` keep-alive, …
    pub status: char,
    pub access_count: u64,
    pub bytes_served: u64,
    pub start_time: f64,
    pub stop_time: f64,
    pub last_used: f64,
    pub client: String,
    pub request: String,
    pub vhost: String,
}

/// One process slot of the scoreboard.
#[derive(Debug, Clone, Default)]
pub struct ProcessScore {
    pub process_num: u32,
    pub pid: i32,
    pub generation: i32,
    pub quiescing: bool,
    pub workers: Vec<WorkerScore>,
}

#[derive(Debug, Clone, Default)]
pub struct ServerScore {
    pub server_limit: u32,
    pub thread_limit: u32,
    pub running_generation: i32,
    pub restart_time: f64,
    pub processes: Vec<ProcessScore>,
}

/// Reads the scoreboard now; no Python, no GIL needed.
pub type Reader = fn() -> Option<ServerScore>;
static READER: OnceLock<Reader> = OnceLock::new();

/// Opens the gate: `server_metrics()` returns data from `f` from now on in this process.
pub fn set_reader(f: Reader) {
    let _ = READER.set(f);
}

#[pyfunction]
pub(crate) fn server_metrics(py: Python<'_>) -> PyResult<Option<Py<PyDict>>> {
    let Some(read) = READER.get() else { return Ok(None) };
    let Some(s) = py.detach(read) else { return Ok(None) };
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let d = PyDict::new(py);
    d.set_item("server_limit", s.server_limit)?;
    d.set_item("thread_limit", s.thread_limit)?;
    d.set_item("running_generation", s.running_generation)?;
    d.set_item("restart_time", s.restart_time)?;
    d.set_item("current_time", now)?;
    d.set_item("running_time", (now - s.restart_time).max(0.0) as u64)?;
    let procs = PyList::empty(py);
    for p in &s.processes {
        let pd = PyDict::new(py);
        pd.set_item("process_num", p.process_num)?;
        pd.set_item("pid", p.pid)?;
        pd.set_item("generation", p.generation)?;
        pd.set_item("quiescing", p.quiescing)?;
        let workers = PyList::empty(py);
        for w in &p.workers {
            let wd = PyDict::new(py);
            wd.set_item("thread_num", w.thread_num)?;
            wd.set_item("generation", w.generation)?;
            wd.set_item("status", w.status.to_string())?;
            wd.set_item("access_count", w.access_count)?;
            wd.set_item("bytes_served", w.bytes_served)?;
            wd.set_item("start_time", w.start_time)?;
            wd.set_item("stop_time", w.stop_time)?;
            wd.set_item("last_used", w.last_used)?;
            wd.set_item("client", w.client.as_str())?;
            wd.set_item("request", w.request.as_str())?;
            wd.set_item("vhost", w.vhost.as_str())?;
            workers.append(wd)?;
        }
        pd.set_item("workers", workers)?;
        procs.append(pd)?;
    }
    d.set_item("processes", procs)?;
    Ok(Some(d.unbind()))
}
