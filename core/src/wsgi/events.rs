//! The request side of the `mod_wsgi` event and metrics API: `subscribe_events` callbacks
//! (`request_started`, `response_started`, `request_finished`, `request_exception`,
//! `process_stopping`), `request_data()`, `active_requests`, and feeding `metrics`.
//!
//! Cost contract: a request in a process where no interpreter subscribed, touched
//! `active_requests` or started recording metrics pays two relaxed atomic loads and a
//! thread-local store (the current request, for `request_data()` and `LogHandler`); no Python
//! object is made. The per-interpreter half (the subscriber lists, `active_requests`) is the
//! `Hub` of `api.py`, one per interpreter, found through [`HUBS`] only when [`EVENTS_ON`].
//!
//! GIL: every function here taking `py` runs attached, in the interpreter of the request (the
//! group's), so callbacks run in the interpreter that registered them.
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::context::RequestCtx;
use super::environ_dict::latin1_str;
use super::io::LogLevel;
use super::metrics::{self, RECORDING, RUNNING, SERVED, Sample};

/// Set (never cleared) once any interpreter of this process has a request-event subscriber or
/// watches `active_requests`.
pub(crate) static EVENTS_ON: AtomicBool = AtomicBool::new(false);

/// Each interpreter's hub: (interpreter address, `api.Hub` instance). Registered by the
/// interpreter's bootstrap; read only when [`EVENTS_ON`]; never removed (interpreters live
/// until the process ends).
static HUBS: Mutex<Vec<(usize, Py<PyAny>)>> = Mutex::new(Vec::new());

pub(crate) fn register_hub(py: Python<'_>, hub: &Bound<'_, PyAny>) {
    let interp = super::groups::current_interp(py);
    HUBS.lock().unwrap_or_else(|e| e.into_inner()).push((interp, hub.clone().unbind()));
}

/// The current interpreter's hub. Attached.
fn hub(py: Python<'_>) -> Option<Bound<'_, PyAny>> {
    let interp = super::groups::current_interp(py);
    let hubs = HUBS.lock().unwrap_or_else(|e| e.into_inner());
    hubs.iter().find(|(i, _)| *i == interp).map(|(_, h)| h.bind(py).clone())
}

/// This thread's request, while one runs on it.
#[derive(Default)]
struct Current {
    ctx: Option<Arc<RequestCtx>>,
    /// `request_data()`: made at request start when tracked, else on first call.
    data: Option<Py<PyDict>>,
    /// The hub when this request is tracked (its interpreter has subscribers or watches).
    hub: Option<Py<PyAny>>,
    request_id: Option<Py<PyAny>>,
}

thread_local! {
    static CURRENT: RefCell<Current> = RefCell::new(Current::default());
}

/// What the event payloads say about a request (from the runtime's `WsgiExtras`).
pub(crate) struct ReqFacts<'a> {
    pub request_id: &'a [u8],
    pub server_pid: u32,
    pub request_start: f64,
    /// 0.0 in embedded mode.
    pub queue_start: f64,
    pub daemon_start: f64,
}

/// What `begin` decided for one request.
pub(crate) struct Tracker {
    tracked: bool,
    recording: bool,
    cpu0: (f64, f64),
    pub gil_wait: f64,
}

/// Whether a request should measure its GIL wait (someone subscribed or records metrics).
pub(crate) fn wants_timing() -> bool {
    EVENTS_ON.load(Ordering::Relaxed) || RECORDING.load(Ordering::Relaxed)
}

/// The request now running on this thread: for `request_data()` and `LogHandler`. Cheap.
/// Attached, in the request's interpreter.
pub(crate) fn enter(ctx: &Arc<RequestCtx>) {
    RUNNING.fetch_add(1, Ordering::Relaxed);
    // A whole new record: nothing of an earlier request (one that panicked before `leave`)
    // survives into this one. Attached, so dropping a stale record is allowed.
    let stale = CURRENT
        .with(|c| std::mem::replace(&mut *c.borrow_mut(), Current { ctx: Some(ctx.clone()), ..Default::default() }));
    drop(stale);
}

/// The live request's context on this thread, if any (for `LogHandler`).
pub(crate) fn current_ctx() -> Option<Arc<RequestCtx>> {
    CURRENT.with(|c| c.borrow().ctx.clone())
}

/// Decides whether this request is tracked (its interpreter's hub is on) or recorded
/// (metrics); attached in the request's interpreter.
pub(crate) fn begin(py: Python<'_>, ctx: &RequestCtx, x: &ReqFacts<'_>, thread_id: u64, gil_wait: f64) -> Tracker {
    let recording = RECORDING.load(Ordering::Relaxed);
    let mut tracked = false;
    if EVENTS_ON.load(Ordering::Relaxed)
        && let Some(h) = hub(py)
        && h.getattr("on").and_then(|v| v.is_truthy()).unwrap_or(false)
    {
        tracked = true;
        CURRENT.with(|c| {
            let mut c = c.borrow_mut();
            c.data = Some(PyDict::new(py).unbind());
            c.hub = Some(h.unbind());
            c.request_id = (!x.request_id.is_empty()).then(|| latin1_str(py, x.request_id).into_any().unbind());
        });
    }
    let mut cpu0 = (0.0, 0.0);
    if tracked || recording {
        ctx.lock().stats.timed = true;
        cpu0 = metrics::thread_cpu();
    }
    if recording {
        metrics::begin(thread_id, x.request_start);
    }
    Tracker { tracked, recording, cpu0, gil_wait }
}

/// The tracked request's hub, `request_data` and request id.
type HubParts<'py> = (Bound<'py, PyAny>, Option<Bound<'py, PyDict>>, Option<Bound<'py, PyAny>>);

fn current_hub(py: Python<'_>) -> Option<HubParts<'_>> {
    CURRENT.with(|c| {
        let c = c.borrow();
        c.hub.as_ref().map(|h| {
            (
                h.bind(py).clone(),
                c.data.as_ref().map(|d| d.bind(py).clone()),
                c.request_id.as_ref().map(|r| r.bind(py).clone()),
            )
        })
    })
}

fn base_event<'py>(
    py: Python<'py>,
    data: Option<Bound<'py, PyDict>>,
    rid: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let ev = PyDict::new(py);
    if let Some(r) = rid {
        ev.set_item("request_id", r)?;
    }
    if let Some(d) = data {
        ev.set_item("request_data", d)?;
    }
    Ok(ev)
}

/// `request_started`: returns the application to call (a subscriber may replace it).
#[allow(clippy::too_many_arguments)]
pub(crate) fn started<'py>(
    py: Python<'py>,
    tr: &Tracker,
    environ: &Bound<'py, PyDict>,
    application: &Bound<'py, PyAny>,
    callable: &str,
    x: &ReqFacts<'_>,
    thread_id: u64,
    app_start: f64,
) -> PyResult<Bound<'py, PyAny>> {
    if !tr.tracked {
        return Ok(application.clone());
    }
    let Some((hub, data, rid)) = current_hub(py) else { return Ok(application.clone()) };
    let ev = base_event(py, data, rid)?;
    ev.set_item("thread_id", thread_id)?;
    ev.set_item("request_environ", environ)?;
    ev.set_item("application_object", application)?;
    ev.set_item("callable_object", callable)?;
    ev.set_item("server_pid", x.server_pid)?;
    ev.set_item("request_start", x.request_start)?;
    ev.set_item("queue_start", x.queue_start)?;
    ev.set_item("daemon_start", x.daemon_start)?;
    ev.set_item("application_start", app_start)?;
    if x.daemon_start > 0.0 {
        ev.set_item("daemon_connects", 1)?;
        ev.set_item("daemon_restarts", 0)?;
    }
    hub.call_method1("_started", (ev,))
}

/// `response_started`, from `start_response` (after it accepted the head).
pub(crate) fn response_started(
    py: Python<'_>,
    status: &Bound<'_, PyAny>,
    headers: &Bound<'_, PyAny>,
    exc_info: Option<&Bound<'_, PyAny>>,
) {
    let Some((hub, data, rid)) = current_hub(py) else { return };
    let r = base_event(py, data, rid).and_then(|ev| {
        ev.set_item("response_status", status)?;
        ev.set_item("response_headers", headers)?;
        ev.set_item("exception_info", exc_info.map_or_else(|| py.None(), |e| e.clone().unbind()))?;
        hub.call_method1("_publish", ("response_started", ev))
    });
    report(py, r);
}

/// `request_exception`: an exception escaped the application (before it is logged).
pub(crate) fn exception(py: Python<'_>, e: &PyErr) {
    let Some((hub, data, rid)) = current_hub(py) else { return };
    let r = base_event(py, data, rid).and_then(|ev| {
        let info = (e.get_type(py), e.value(py), e.traceback(py));
        ev.set_item("exception_info", info)?;
        hub.call_method1("_publish", ("request_exception", ev))
    });
    report(py, r);
}

/// A failure of our own event plumbing (not a subscriber's: the hub logs those).
fn report(py: Python<'_>, r: PyResult<Bound<'_, PyAny>>) {
    if let Err(e) = r {
        super::log::host_log(
            LogLevel::Error,
            &crate::coded!("RWSGI0171", "mod_wsgi event dispatch failed: {}", super::log::format_exception(py, &e)),
        );
    }
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The request is over: `request_finished`, the metrics, and this thread forgets it. Attached,
/// in the request's interpreter (objects of the request are dropped here).
#[allow(clippy::too_many_arguments)]
pub(crate) fn leave(
    py: Python<'_>,
    tr: Option<Tracker>,
    ctx: &RequestCtx,
    x: &ReqFacts<'_>,
    failed_before_headers: bool,
    thread_id: u64,
    app_start: f64,
) {
    SERVED.fetch_add(1, Ordering::Relaxed);
    RUNNING.fetch_sub(1, Ordering::Relaxed);
    let cur = CURRENT.with(|c| std::mem::take(&mut *c.borrow_mut()));
    let Some(tr) = tr.filter(|t| t.tracked || t.recording) else {
        drop(cur);
        return;
    };
    let end = now();
    let (stats, written, code) = {
        let g = ctx.lock();
        (g.stats, g.written, g.head.as_ref().map(|h| h.code))
    };
    let status = match (failed_before_headers, code) {
        (true, _) => 500,
        (false, Some(c)) => c,
        (false, None) => 0,
    };
    let cpu1 = metrics::thread_cpu();
    let (cu, cs) = ((cpu1.0 - tr.cpu0.0).max(0.0), (cpu1.1 - tr.cpu0.1).max(0.0));
    let s = Sample {
        thread_id,
        request_start: x.request_start,
        queue_start: x.queue_start,
        daemon_start: x.daemon_start,
        application_start: if app_start > 0.0 { app_start } else { end },
        application_finish: end,
        end,
        input_time: stats.input_ns as f64 / 1e9,
        output_time: stats.output_ns as f64 / 1e9,
        gil_wait: tr.gil_wait,
        input_bytes: stats.input_length,
        input_reads: stats.input_reads,
        output_bytes: written,
        output_writes: stats.output_writes,
        status,
        cpu: cu + cs,
    };
    if tr.recording {
        metrics::record(&s);
    }
    if tr.tracked
        && let Some(hub) = cur.hub.as_ref()
    {
        let r = (|| {
            let ev = PyDict::new(py);
            if let Some(r) = &cur.request_id {
                ev.set_item("request_id", r)?;
            }
            if let Some(d) = &cur.data {
                ev.set_item("request_data", d)?;
            }
            ev.set_item("thread_id", thread_id)?;
            ev.set_item("server_pid", x.server_pid)?;
            ev.set_item("request_start", s.request_start)?;
            ev.set_item("queue_start", s.queue_start)?;
            ev.set_item("daemon_start", s.daemon_start)?;
            ev.set_item("application_start", s.application_start)?;
            ev.set_item("application_finish", s.application_finish)?;
            ev.set_item("application_time", (s.application_finish - s.application_start).max(0.0))?;
            ev.set_item("input_reads", s.input_reads)?;
            ev.set_item("input_length", s.input_bytes)?;
            ev.set_item("input_time", s.input_time)?;
            ev.set_item("output_writes", s.output_writes)?;
            ev.set_item("output_length", s.output_bytes)?;
            ev.set_item("output_time", s.output_time)?;
            ev.set_item("status", status)?;
            ev.set_item("cpu_user_time", cu)?;
            ev.set_item("cpu_system_time", cs)?;
            ev.set_item("cpu_time", cu + cs)?;
            ev.set_item("gil_wait_time", s.gil_wait)?;
            ev.set_item("gil_wait_count", 1)?;
            hub.bind(py).call_method1("_finished", (ev,))
        })();
        report(py, r);
    }
    drop(cur);
}

/// `mod_wsgi.request_data()`: the current request's scratch dict (made on first use).
#[pyfunction]
pub(crate) fn request_data(py: Python<'_>) -> PyResult<Py<PyDict>> {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        if c.ctx.is_none() {
            return Err(PyRuntimeError::new_err("no active request for the current thread"));
        }
        Ok(c.data.get_or_insert_with(|| PyDict::new(py).unbind()).clone_ref(py))
    })
}

/// Called by a hub when its interpreter first needs request tracking.
#[pyfunction]
pub(crate) fn _enable_events() {
    EVENTS_ON.store(true, Ordering::Release);
}

#[pyfunction]
pub(crate) fn start_recording_metrics() {
    metrics::start(now());
}

fn opt_mean(p: &metrics::Phase) -> Option<f64> {
    (p.count > 0).then(|| p.total / p.count as f64)
}

fn put_phase(d: &Bound<'_, PyDict>, name: &str, p: &metrics::Phase, present: bool) -> PyResult<()> {
    let some = present && p.count > 0;
    d.set_item(name, if present { Some(opt_mean(p).unwrap_or(0.0)) } else { None })?;
    d.set_item(format!("{name}_min_us"), some.then_some(p.min_us))?;
    d.set_item(format!("{name}_max_us"), some.then_some(p.max_us))?;
    d.set_item(format!("{name}_buckets"), p.buckets.to_vec())?;
    Ok(())
}

fn threads_max() -> u64 {
    metrics::threads_per_process()
}

/// `mod_wsgi.request_metrics()`: the window since the previous call, then a new window.
#[pyfunction]
pub(crate) fn request_metrics(py: Python<'_>) -> PyResult<Option<Py<PyDict>>> {
    if !RECORDING.load(Ordering::Acquire) {
        return Ok(None);
    }
    let stop = now();
    let cpu = metrics::process_cpu();
    let w = {
        let mut g = metrics::lock();
        let Some(w) = g.as_mut() else { return Ok(None) };
        // In-flight tails count as busy time of this window; the rest goes to the next one.
        let mut next = metrics::Window {
            start: stop,
            cpu0: cpu,
            threads_started: w.threads_started,
            busy_total: w.busy_total,
            ..Default::default()
        };
        next.threads = w
            .threads
            .iter()
            .map(|t| metrics::ThreadStats {
                running_since: if t.running_since > 0.0 { stop } else { 0.0 },
                total: t.total,
                ..Default::default()
            })
            .collect();
        std::mem::replace(w, next)
    };
    let d = PyDict::new(py);
    let period = (stop - w.start).max(1e-9);
    let tmax = threads_max().max(w.threads.len() as u64) as usize;
    let mut completed = vec![0u64; tmax];
    let mut busy = vec![0f64; tmax];
    let mut tcpu = vec![0f64; tmax];
    let mut elapsed = vec![0f64; tmax];
    let mut maxd = vec![0f64; tmax];
    let mut active = 0;
    for (i, t) in w.threads.iter().enumerate() {
        completed[i] = t.completed;
        let tail = if t.running_since > 0.0 { (stop - t.running_since).max(0.0) } else { 0.0 };
        busy[i] = t.busy + tail;
        tcpu[i] = t.cpu;
        elapsed[i] = tail;
        maxd[i] = t.max_duration;
        if t.completed > 0 || t.running_since > 0.0 {
            active += 1;
        }
    }
    d.set_item("pid", std::process::id())?;
    d.set_item("start_time", w.start)?;
    d.set_item("stop_time", stop)?;
    d.set_item("sample_period", period)?;
    d.set_item("request_count", w.count)?;
    d.set_item("request_throughput", w.count as f64 / period)?;
    d.set_item("request_threads_maximum", tmax)?;
    d.set_item("request_threads_started", w.threads_started)?;
    d.set_item("request_threads_active", active)?;
    d.set_item("capacity_utilization", busy.iter().sum::<f64>() / (period * tmax as f64))?;
    d.set_item("request_threads_completed", completed.clone())?;
    d.set_item("request_threads_buckets", completed)?;
    d.set_item("request_threads_busy_time", busy)?;
    d.set_item("request_threads_cpu_time", tcpu)?;
    d.set_item("request_threads_current_elapsed", elapsed)?;
    d.set_item("request_threads_max_duration", maxd)?;
    let daemon = w.queue.count > 0 || metrics::in_daemon();
    put_phase(&d, "server_time", &w.server, true)?;
    put_phase(&d, "queue_time", &w.queue, daemon)?;
    put_phase(&d, "daemon_time", &w.daemon, daemon)?;
    put_phase(&d, "application_time", &w.application, true)?;
    put_phase(&d, "request_time", &w.request, true)?;
    put_phase(&d, "input_read_time", &w.input, true)?;
    put_phase(&d, "output_write_time", &w.output, true)?;
    put_phase(&d, "gil_wait_time", &w.gil, true)?;
    d.set_item("gil_wait_count", w.gil.count)?;
    d.set_item("input_bytes", w.input_bytes)?;
    d.set_item("input_reads", w.input_reads)?;
    d.set_item("output_bytes", w.output_bytes)?;
    d.set_item("output_writes", w.output_writes)?;
    for (i, name) in ["status_1xx", "status_2xx", "status_3xx", "status_4xx", "status_5xx"].iter().enumerate() {
        d.set_item(*name, w.status[i])?;
    }
    let (u, s) = ((cpu.0 - w.cpu0.0).max(0.0) / period, (cpu.1 - w.cpu0.1).max(0.0) / period);
    for (k, v) in [("cpu_user", u), ("cpu_system", s), ("cpu", u + s)] {
        d.set_item(format!("{k}_utilization"), v)?;
        d.set_item(format!("{k}_time"), v)?;
    }
    let (rss, max_rss) = metrics::memory();
    d.set_item("memory_rss", rss)?;
    d.set_item("memory_max_rss", max_rss)?;
    Ok(Some(d.unbind()))
}

/// `mod_wsgi.process_metrics()`: the process since it started (counts since recording began
/// for the per-thread and busy figures).
#[pyfunction]
pub(crate) fn process_metrics(py: Python<'_>) -> PyResult<Option<Py<PyDict>>> {
    if !RECORDING.load(Ordering::Acquire) {
        return Ok(None);
    }
    let current = now();
    let restart = metrics::started_at();
    let (busy, threads, started) = {
        let g = metrics::lock();
        match g.as_ref() {
            Some(w) => {
                let tail: f64 = w
                    .threads
                    .iter()
                    .filter(|t| t.running_since > 0.0)
                    .map(|t| (current - t.running_since).max(0.0))
                    .sum();
                (w.busy_total + tail, w.threads.iter().map(|t| t.total).collect::<Vec<_>>(), w.threads_started)
            }
            None => (0.0, Vec::new(), 0),
        }
    };
    let d = PyDict::new(py);
    let cpu = metrics::process_cpu();
    let (rss, max_rss) = metrics::memory();
    d.set_item("pid", std::process::id())?;
    d.set_item("restart_time", restart)?;
    d.set_item("current_time", current)?;
    d.set_item("running_time", (current - restart).max(0.0) as u64)?;
    d.set_item("request_count", SERVED.load(Ordering::Relaxed))?;
    d.set_item("request_busy_time", busy)?;
    d.set_item("request_threads", started)?;
    d.set_item("active_requests", RUNNING.load(Ordering::Relaxed))?;
    d.set_item("cpu_user_time", cpu.0)?;
    d.set_item("cpu_system_time", cpu.1)?;
    d.set_item("cpu_time", cpu.0 + cpu.1)?;
    d.set_item("memory_rss", rss)?;
    d.set_item("memory_max_rss", max_rss)?;
    let list = PyList::empty(py);
    for (i, n) in threads.iter().enumerate() {
        let t = PyDict::new(py);
        t.set_item("thread_id", i + 1)?;
        t.set_item("request_count", n)?;
        list.append(t)?;
    }
    d.set_item("threads", list)?;
    Ok(Some(d.unbind()))
}

/// `process_stopping` in the current interpreter (attached), if its hub has subscribers.
pub(crate) fn publish_stopping(py: Python<'_>, reason: &str) {
    if let Some(h) = hub(py) {
        let r = h.call_method1("_stopping", (reason,));
        report(py, r);
    }
}

pub(crate) fn anyone_subscribed() -> bool {
    HUBS_WANT_STOPPING.load(Ordering::Acquire)
}

/// Set once any interpreter subscribed to anything (so an exiting process that nobody
/// subscribed in does not take the GIL to publish).
pub(crate) static HUBS_WANT_STOPPING: AtomicBool = AtomicBool::new(false);

#[pyfunction]
pub(crate) fn _want_stopping() {
    HUBS_WANT_STOPPING.store(true, Ordering::Release);
}
