//! The `wsgi-status` page: daemon groups' status boards (`status_board`) as HTML for a person
//! or JSON for monitoring. Pure: the Apache child reads the boards and sends what this makes.
use std::fmt::Write;

use super::status_board::Snapshot;

/// One group as the page shows it.
pub struct GroupStatus<'a> {
    pub name: &'a str,
    pub processes: u32,
    pub threads: u32,
    /// `None`: the board could not be read (not started yet, or unreadable).
    pub board: Option<Snapshot>,
}

/// Totals of a group.
#[derive(Default)]
struct Totals {
    running: u64,
    busy: u64,
    idle: u64,
    served: u64,
    restarts: u64,
    errors_5xx: u64,
}

fn totals(g: &GroupStatus<'_>) -> Totals {
    let mut t = Totals::default();
    if let Some(b) = &g.board {
        for p in &b.processes {
            if p.pid != 0 {
                t.running += 1;
                t.busy += p.busy;
                t.idle += (g.threads as u64).saturating_sub(p.busy);
            }
            t.served += p.served_total;
            t.restarts += p.restarts;
            t.errors_5xx += p.errors_5xx;
        }
    }
    t
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '<' || c == '>' || c == '&' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

/// The JSON document (`?json`).
pub fn json(groups: &[GroupStatus<'_>], now_us: u64) -> String {
    let mut o = String::with_capacity(512);
    let _ = write!(o, "{{\"time\":{:.6},\"groups\":[", secs(now_us));
    for (gi, g) in groups.iter().enumerate() {
        if gi > 0 {
            o.push(',');
        }
        let t = totals(g);
        o.push_str("{\"name\":");
        json_str(&mut o, g.name);
        let _ = write!(
            o,
            ",\"processes\":{},\"threads\":{},\"available\":{},\"running\":{},\"busy\":{},\"idle\":{},\"queue\":null,\"requests\":{},\"restarts\":{},\"errors_5xx\":{},\"process_list\":[",
            g.processes,
            g.threads,
            g.board.is_some(),
            t.running,
            t.busy,
            t.idle,
            t.served,
            t.restarts,
            t.errors_5xx
        );
        for (pi, p) in g.board.iter().flat_map(|b| &b.processes).enumerate() {
            if pi > 0 {
                o.push(',');
            }
            let idle = if p.pid != 0 { (g.threads as u64).saturating_sub(p.busy) } else { 0 };
            let _ = write!(
                o,
                "{{\"index\":{},\"pid\":{},\"started\":{:.6},\"busy\":{},\"idle\":{idle},\"requests\":{},\"requests_total\":{},\"restarts\":{},\"errors_5xx\":{},\"last_activity\":{:.6},\"recent_restarts\":[",
                p.index,
                p.pid,
                secs(p.started_us),
                p.busy,
                p.served,
                p.served_total,
                p.restarts,
                p.errors_5xx,
                secs(p.last_activity_us)
            );
            for (ri, r) in p.recent_restarts.iter().enumerate() {
                if ri > 0 {
                    o.push(',');
                }
                let _ = write!(o, "{{\"time\":{:.6},\"reason\":", secs(r.at_us));
                json_str(&mut o, r.reason);
                let _ = write!(o, ",\"status\":{}}}", r.how);
            }
            o.push_str("],\"recent_5xx\":[");
            for (ei, (at, code)) in p.recent_5xx.iter().enumerate() {
                if ei > 0 {
                    o.push(',');
                }
                let _ = write!(o, "{{\"time\":{:.6},\"status\":{code}}}", secs(*at));
            }
            o.push_str("]}");
        }
        o.push_str("]}");
    }
    o.push_str("]}\n");
    o
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Seconds ago, for a person.
fn ago(now_us: u64, at_us: u64) -> String {
    if at_us == 0 {
        return "–".into();
    }
    let s = now_us.saturating_sub(at_us) / 1_000_000;
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}

/// The HTML page.
pub fn html(groups: &[GroupStatus<'_>], now_us: u64) -> String {
    let mut o = String::with_capacity(2048);
    o.push_str(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>mod_wsgi_rs status</title>\
         <style>body{font-family:sans-serif}table{border-collapse:collapse;margin-bottom:1em}\
         td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}th{background:#eee}\
         td.l,th.l{text-align:left}</style></head><body>\n<h1>mod_wsgi_rs daemon process groups</h1>\n",
    );
    let _ = writeln!(o, "<p>Machine-readable: <a href=\"?json\">?json</a>. Process {}.</p>", std::process::id());
    if groups.is_empty() {
        o.push_str("<p>No WSGIDaemonProcess group is configured.</p>\n");
    }
    for g in groups {
        let t = totals(g);
        let _ = writeln!(
            o,
            "<h2>Group {}</h2>\n<p>{} of {} processes running, {} threads each: <b>{} busy</b>, {} idle; queue: not measured; {} requests served; {} restarts; {} responses with status 5xx.</p>",
            html_escape(g.name),
            t.running,
            g.processes,
            g.threads,
            t.busy,
            t.idle,
            t.served,
            t.restarts,
            t.errors_5xx
        );
        let Some(b) = &g.board else {
            o.push_str("<p>No status board (the group has not started yet).</p>\n");
            continue;
        };
        o.push_str(
            "<table><tr><th>#</th><th>pid</th><th>started</th><th>busy</th><th>idle</th><th>requests</th>\
             <th>requests (all)</th><th>restarts</th><th class=\"l\">recent restarts</th><th>5xx</th>\
             <th class=\"l\">recent 5xx</th><th>last request</th></tr>\n",
        );
        for p in &b.processes {
            let idle = if p.pid != 0 { (g.threads as u64).saturating_sub(p.busy) } else { 0 };
            let restarts: Vec<String> = p
                .recent_restarts
                .iter()
                .map(|r| format!("{} ({}, status {})", r.reason, ago(now_us, r.at_us), r.how))
                .collect();
            let errors: Vec<String> =
                p.recent_5xx.iter().map(|(at, c)| format!("{c} ({})", ago(now_us, *at))).collect();
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{idle}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td><td>{}</td><td class=\"l\">{}</td><td>{}</td></tr>",
                p.index,
                if p.pid == 0 { "–".to_string() } else { p.pid.to_string() },
                ago(now_us, p.started_us),
                p.busy,
                p.served,
                p.served_total,
                p.restarts,
                html_escape(&restarts.join("; ")),
                p.errors_5xx,
                html_escape(&errors.join("; ")),
                ago(now_us, p.last_activity_us)
            );
        }
        o.push_str("</table>\n");
    }
    o.push_str("</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::status_board::{ProcessView, Restart};

    fn sample() -> GroupStatus<'static> {
        GroupStatus {
            name: "shop<&\"",
            processes: 2,
            threads: 4,
            board: Some(Snapshot {
                threads: 4,
                created_us: 1,
                processes: vec![
                    ProcessView {
                        index: 0,
                        pid: 77,
                        busy: 3,
                        served: 5,
                        served_total: 9,
                        restarts: 1,
                        errors_5xx: 1,
                        recent_restarts: vec![Restart { at_us: 5_000_000, reason: "maximum_requests", how: 0 }],
                        recent_5xx: vec![(6_000_000, 502)],
                        ..Default::default()
                    },
                    ProcessView { index: 1, pid: 0, ..Default::default() },
                ],
            }),
        }
    }

    #[test]
    fn json_has_totals_and_escapes() {
        let j = json(&[sample()], 10_000_000);
        assert!(j.contains("\"name\":\"shop\\u003c\\u0026\\\"\""), "{j}");
        assert!(j.contains("\"running\":1,\"busy\":3,\"idle\":1"), "{j}");
        assert!(j.contains("\"requests\":9,\"restarts\":1,\"errors_5xx\":1"), "{j}");
        assert!(j.contains("\"reason\":\"maximum_requests\""), "{j}");
        assert!(j.contains("{\"time\":6.000000,\"status\":502}"), "{j}");
    }

    #[test]
    fn html_escapes_names() {
        let h = html(&[sample()], 10_000_000);
        assert!(h.contains("Group shop&lt;&amp;&quot;"), "{h}");
        assert!(h.contains("<b>3 busy</b>, 1 idle"), "{h}");
        assert!(h.contains("maximum_requests (5 s ago, status 0)"), "{h}");
        assert!(!h.contains("shop<"), "{h}");
    }
}
