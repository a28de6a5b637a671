use super::*;

fn parse(args: &[&str]) -> Result<DaemonOptions, String> {
    parse_daemon_process(args)
}

fn ok(opt: &str) -> DaemonOptions {
    parse(&["shop", opt]).unwrap_or_else(|e| panic!("{opt}: {e}"))
}

fn err(opt: &str) -> String {
    match parse(&["shop", opt]) {
        Ok(o) => panic!("{opt} was accepted: {o:?}"),
        Err(e) => e,
    }
}

/// The error names the directive, the group, the option and the bad value.
fn assert_bad_value(key: &str, value: &str) {
    let e = err(&format!("{key}={value}"));
    assert!(e.starts_with("WSGIDaemonProcess shop: "), "{e}");
    assert!(e.contains(&format!("'{key}'")) && e.contains(&format!("'{value}'")), "{e}");
}

#[test]
fn defaults() {
    let d = DaemonOptions::default();
    assert_eq!(d.name, "");
    assert_eq!((d.processes, d.processes_given, d.threads), (1, false, 15));
    assert_eq!((d.user.clone(), d.group.clone(), d.home.clone(), d.python_home.clone()), (None, None, None, None));
    assert!(d.supplementary_groups.is_empty() && d.python_path.is_empty());
    assert_eq!((d.python_eggs.clone(), d.lang.clone(), d.locale.clone(), d.umask), (None, None, None, None));
    assert_eq!((d.display_name.clone(), d.socket_user.clone()), (None, None));
    assert_eq!(
        (d.maximum_requests, d.restart_interval, d.inactivity_timeout, d.request_timeout, d.startup_timeout),
        (0, 0, 0, 0, 0)
    );
    assert_eq!((d.deadlock_timeout, d.graceful_timeout, d.shutdown_timeout, d.connect_timeout), (300, 15, 5, 15));
    assert_eq!((d.socket_timeout, d.queue_timeout), (None, 0));
    assert_eq!((d.listen_backlog, d.header_buffer_size, d.response_buffer_size), (100, 32768, 8 * 1024 * 1024));
    assert_eq!((d.send_buffer_size, d.receive_buffer_size, d.stack_size), (0, 0, None));
    assert_eq!((d.cpu_priority, d.memory_limit, d.virtual_memory_limit), (None, None, None));

    let o = parse(&["shop"]).unwrap();
    assert_eq!(o, DaemonOptions { name: "shop".into(), ..DaemonOptions::default() });
    assert_eq!(display_title(&o), None);
}

#[test]
fn issue_example() {
    let line = "shop processes=2 threads=15 user=shop group=shop python-home=/srv/shop/venv home=/srv/shop \
                display-name=%{GROUP} maximum-requests=10000 request-timeout=60";
    let args: Vec<&str> = line.split_whitespace().collect();
    let o = parse(&args).unwrap();
    let expected = DaemonOptions {
        name: "shop".into(),
        processes: 2,
        processes_given: true,
        threads: 15,
        user: Some("shop".into()),
        group: Some("shop".into()),
        python_home: Some("/srv/shop/venv".into()),
        home: Some("/srv/shop".into()),
        display_name: Some("%{GROUP}".into()),
        maximum_requests: 10000,
        request_timeout: 60,
        ..DaemonOptions::default()
    };
    assert_eq!(o, expected);
    assert_eq!(display_title(&o).as_deref(), Some("(wsgi:shop)"));
}

#[test]
fn recommended_set_from_the_docs() {
    let o = parse(&[
        "app",
        "display-name=%{GROUP}",
        "lang=en_US.UTF-8",
        "locale=en_US.UTF-8",
        "threads=5",
        "queue-timeout=45",
        "socket-timeout=60",
        "connect-timeout=15",
        "request-timeout=60",
        "startup-timeout=15",
        "deadlock-timeout=60",
        "graceful-timeout=15",
        "shutdown-timeout=5",
    ])
    .unwrap();
    assert_eq!(o.lang.as_deref(), Some("en_US.UTF-8"));
    assert_eq!(o.locale.as_deref(), Some("en_US.UTF-8"));
    assert_eq!((o.threads, o.queue_timeout, o.socket_timeout), (5, 45, Some(60)));
    assert_eq!((o.startup_timeout, o.deadlock_timeout, o.graceful_timeout, o.shutdown_timeout), (15, 60, 15, 5));
    assert!(!o.processes_given);
}

#[test]
fn names() {
    assert!(parse(&[]).unwrap_err().starts_with("WSGIDaemonProcess: "));
    assert!(parse(&[""]).unwrap_err().contains("missing"));
    for bad in ["%{GLOBAL}", "%shop", "a/b", "a b", "a\tb", "processes=2"] {
        let e = parse(&[bad]).unwrap_err();
        assert!(e.starts_with("WSGIDaemonProcess: invalid daemon process group name"), "{bad}: {e}");
    }
    for good in ["shop", "shop-2", "shop_2", "www.example.com", "a%b"] {
        assert_eq!(parse(&[good]).unwrap().name, good);
    }
}

#[test]
fn malformed_duplicate_unknown_and_unsupported() {
    for bad in ["processes", "=2", ""] {
        let e = err(bad);
        assert!(e.contains("expected name=value"), "{bad}: {e}");
    }
    let e = parse(&["shop", "threads=2", "threads=3"]).unwrap_err();
    assert_eq!(e, "WSGIDaemonProcess shop: option 'threads' given twice");
    let e = parse(&["shop", "user=a", "processes=2", "user=a"]).unwrap_err();
    assert!(e.contains("'user' given twice"), "{e}");

    let e = err("colour=blue");
    assert!(e.starts_with("WSGIDaemonProcess shop: unknown option 'colour'"), "{e}");
    assert!(e.contains("python-home"), "lists the valid options: {e}");
    for (bad, hint) in [("python_home=/x", "python-home"), ("Processes=2", "processes")] {
        let e = err(bad);
        assert!(e.contains("unknown option") && e.contains(&format!("did you mean '{hint}'")), "{e}");
    }
    // Not a mod_wsgi option at all.
    assert!(err("maximum-requests-jitter=5").contains("unknown option 'maximum-requests-jitter'"));

    // Every mod_wsgi 6.0.5 option is implemented except the refused ones, which say why and
    // what to use instead.
    assert_eq!(REFUSED.iter().map(|(k, _)| *k).collect::<Vec<_>>(), ["chroot"]);
    let e = err("chroot=/srv/jail");
    assert!(e.starts_with("WSGIDaemonProcess shop: chroot= is not supported by mod_wsgi_rs"), "{e}");
    assert!(e.contains("container") && e.contains("RootDirectory="), "{e}");
    // Refused wins over "given twice": the first occurrence already fails.
    assert!(parse(&["shop", "chroot=/a", "chroot=/b"]).unwrap_err().contains("chroot= is not supported"));
    assert!(err("Chroot=/a").contains("did you mean 'chroot'"));
}

#[test]
fn every_supported_option_is_parsed() {
    // A value each option accepts; guards SUPPORTED against a missing match arm.
    for key in SUPPORTED {
        let value = match *key {
            "home" | "python-home" => "/srv",
            "stack-size" => "65536",
            "header-buffer-size" => "8192",
            "response-buffer-size" => "65536",
            "send-buffer-size" | "receive-buffer-size" => "512",
            "umask" => "022",
            "server-metrics" => "On",
            "script-user" | "script-group" => "#33",
            _ => "1",
        };
        ok(&format!("{key}={value}"));
    }
}

#[test]
fn value_quoting_already_removed() {
    // Apache's word splitting removed the quotes: spaces and '=' inside a value are kept.
    let o = parse(&["shop", "display-name=wsgi shop=1", "python-path=/a b:/c"]).unwrap();
    assert_eq!(o.display_name.as_deref(), Some("wsgi shop=1"));
    assert_eq!(o.python_path, vec!["/a b".to_string(), "/c".to_string()]);
}

#[test]
fn processes() {
    let o = ok("processes=1");
    assert_eq!((o.processes, o.processes_given), (1, true));
    assert_eq!(ok("processes=2147483647").processes, 2147483647);
    for bad in ["0", "-1", "+2", "2x", "abc", "", " 2", "1.5", "2147483648", "99999999999999999999999"] {
        assert_bad_value("processes", bad);
    }
    assert_eq!(
        err("processes=abc"),
        "WSGIDaemonProcess shop: invalid value 'abc' for option 'processes' (expected a positive integer)"
    );
}

#[test]
fn threads() {
    assert_eq!(ok("threads=1").threads, 1);
    assert_eq!(ok("threads=65533").threads, 65533);
    assert_bad_value("threads", "65534");
    for bad in ["-1", "x", "", "15 "] {
        assert_bad_value("threads", bad);
    }
    // Service-script mode (mod_wsgi): no request threads.
    assert_eq!(ok("threads=0").threads, 0);
    assert!(err("threads=x").contains("0 (service scripts only) or a number of threads"));
}

#[test]
fn new_defaults_match_mod_wsgi() {
    let d = DaemonOptions::default();
    assert_eq!((d.interrupt_timeout, d.eviction_timeout, d.cpu_time_limit), (0, 0, 0));
    assert_eq!((d.server_metrics, d.switch_interval_ns, d.response_socket_timeout), (false, None, None));
    assert_eq!((d.response_flush_delay_ms, d.script_owner.clone()), (5, None));
    assert_eq!(d.switch_interval(), None);
}

#[test]
fn timeouts_of_the_recovery_options() {
    let o = parse(&["shop", "interrupt-timeout=10", "eviction-timeout=30", "cpu-time-limit=120"]).unwrap();
    assert_eq!((o.interrupt_timeout, o.eviction_timeout, o.cpu_time_limit), (10, 30, 120));
    for key in ["interrupt-timeout", "eviction-timeout", "cpu-time-limit", "response-socket-timeout"] {
        for bad in ["-1", "1.5", "x", "", "2147483648"] {
            assert_bad_value(key, bad);
        }
    }
    assert_eq!(ok("response-socket-timeout=7").response_socket_timeout, Some(7));
    // 0 means "as socket-timeout", as in mod_wsgi.
    assert_eq!(ok("response-socket-timeout=0").response_socket_timeout, None);
}

#[test]
fn response_flush_delay_in_milliseconds() {
    assert_eq!(ok("response-flush-delay=0").response_flush_delay_ms, 0);
    assert_eq!(ok("response-flush-delay=250").response_flush_delay_ms, 250);
    assert_eq!(ok("response-flush-delay=60000").response_flush_delay_ms, 60000);
    for bad in ["-1", "60001", "0.5", "5ms", ""] {
        assert_bad_value("response-flush-delay", bad);
    }
}

#[test]
fn server_metrics_flag() {
    for (v, on) in [("On", true), ("on", true), ("OFF", false), ("Off", false)] {
        assert_eq!(ok(&format!("server-metrics={v}")).server_metrics, on, "{v}");
    }
    for bad in ["1", "yes", "", "onn"] {
        assert_bad_value("server-metrics", bad);
    }
}

#[test]
fn switch_interval_in_seconds() {
    assert_eq!(ok("switch-interval=0.002").switch_interval_ns, Some(2_000_000));
    assert_eq!(ok("switch-interval=0.002").switch_interval(), Some(0.002));
    assert_eq!(ok("switch-interval=1").switch_interval(), Some(1.0));
    assert_eq!(ok("switch-interval=.5").switch_interval(), Some(0.5));
    for bad in ["0", "0.0", "-0.1", "1e-3", "nan", "inf", "x", "", "0.0000000001", "99999999999"] {
        assert_bad_value("switch-interval", bad);
    }
}

#[test]
fn script_user_or_group() {
    assert_eq!(ok("script-user=alice").script_owner, Some(ScriptOwner::User("alice".into())));
    assert_eq!(ok("script-user=#1000").script_owner, Some(ScriptOwner::User("#1000".into())));
    assert_eq!(ok("script-group=staff").script_owner, Some(ScriptOwner::Group("staff".into())));
    for bad in ["", "#", "#x", "a b"] {
        assert_bad_value("script-user", bad);
        assert_bad_value("script-group", bad);
    }
    // mod_wsgi: "Only one of script-user and script-group allowed."
    let e = parse(&["shop", "script-user=a", "script-group=b"]).unwrap_err();
    assert_eq!(e, "WSGIDaemonProcess shop: only one of script-user= and script-group= may be given");
}

#[test]
fn users_and_groups() {
    let args = ["shop", "user=#1000", "group=#0", "socket-user=#33", "supplementary-groups=adm,#4,,staff"];
    let o = parse(&args).unwrap();
    assert_eq!(o.user.as_deref(), Some("#1000"));
    assert_eq!(o.group.as_deref(), Some("#0"));
    assert_eq!(o.socket_user.as_deref(), Some("#33"));
    assert_eq!(o.supplementary_groups, vec!["adm", "#4", "staff"]);

    for root in ["root", "#0", "#000"] {
        let e = err(&format!("user={root}"));
        assert!(e.starts_with(&format!("WSGIDaemonProcess shop: user={root} is not allowed")), "{e}");
    }
    assert_eq!(ok("user=rooter").user.as_deref(), Some("rooter"));
    // Only the daemon's user is restricted.
    assert_eq!(ok("socket-user=root").socket_user.as_deref(), Some("root"));

    for key in ["user", "group", "socket-user"] {
        for bad in ["", "#", "#x", "#-1", "#4294967296", "a b"] {
            assert_bad_value(key, bad);
        }
    }
    for bad in ["", ",", "a,#x"] {
        assert_bad_value("supplementary-groups", bad);
    }
}

#[test]
fn paths_and_strings() {
    let o = parse(&[
        "shop",
        "home=/srv/shop",
        "python-home=/srv/shop/venv",
        "python-path=/srv/shop/src::/srv/lib:",
        "python-eggs=/tmp/eggs",
        "lang=C.UTF-8",
        "locale=C.UTF-8",
    ])
    .unwrap();
    assert_eq!(o.home.as_deref(), Some("/srv/shop"));
    assert_eq!(o.python_home.as_deref(), Some("/srv/shop/venv"));
    assert_eq!(o.python_path, vec!["/srv/shop/src", "/srv/lib"]);
    assert_eq!(o.python_eggs.as_deref(), Some("/tmp/eggs"));
    assert_eq!((o.lang.as_deref(), o.locale.as_deref()), (Some("C.UTF-8"), Some("C.UTF-8")));
    assert!(ok("python-path=").python_path.is_empty());
    for key in ["home", "python-home"] {
        for bad in ["", "srv/shop", "./venv", "~/venv"] {
            assert_bad_value(key, bad);
        }
    }
}

#[test]
fn umask_forms() {
    let forms = [("0022", 0o22), ("022", 0o22), ("22", 0o22), ("0o22", 0o22), ("0O027", 0o27)];
    for (v, m) in forms.into_iter().chain([("0", 0), ("000", 0), ("0777", 0o777)]) {
        assert_eq!(ok(&format!("umask={v}")).umask, Some(m), "{v}");
    }
    for bad in ["", "0o", "0x22", "08", "1000", "0o1000", "-022", "+022", "abc", "7777"] {
        assert_bad_value("umask", bad);
    }
}

#[test]
fn timeouts() {
    let keys = [
        "restart-interval",
        "inactivity-timeout",
        "request-timeout",
        "startup-timeout",
        "deadlock-timeout",
        "graceful-timeout",
        "shutdown-timeout",
        "connect-timeout",
        "queue-timeout",
        "maximum-requests",
    ];
    fn get(o: &DaemonOptions, key: &str) -> u64 {
        match key {
            "restart-interval" => o.restart_interval,
            "inactivity-timeout" => o.inactivity_timeout,
            "request-timeout" => o.request_timeout,
            "startup-timeout" => o.startup_timeout,
            "deadlock-timeout" => o.deadlock_timeout,
            "graceful-timeout" => o.graceful_timeout,
            "shutdown-timeout" => o.shutdown_timeout,
            "connect-timeout" => o.connect_timeout,
            "queue-timeout" => o.queue_timeout,
            "maximum-requests" => o.maximum_requests,
            _ => unreachable!(),
        }
    }
    for key in keys {
        assert_eq!(get(&ok(&format!("{key}=0")), key), 0, "{key}");
        assert_eq!(get(&ok(&format!("{key}=60")), key), 60, "{key}");
        assert_eq!(get(&ok(&format!("{key}=2147483647")), key), 2147483647, "{key}");
        for bad in ["-1", "1.5", "1s", "", "2147483648", "x"] {
            assert_bad_value(key, bad);
        }
    }
    // socket-timeout: 0 means Apache's Timeout, as in mod_wsgi.
    assert_eq!(ok("socket-timeout=0").socket_timeout, None);
    assert_eq!(ok("socket-timeout=60").socket_timeout, Some(60));
    assert_bad_value("socket-timeout", "-5");
    assert_bad_value("socket-timeout", "2147483648");
}

#[test]
fn listen_backlog() {
    assert_eq!(ok("listen-backlog=1").listen_backlog, 1);
    assert_eq!(ok("listen-backlog=2147483647").listen_backlog, 2147483647);
    for bad in ["0", "-1", "", "x", "2147483648"] {
        assert_bad_value("listen-backlog", bad);
    }
}

#[test]
fn buffer_sizes() {
    assert_eq!(ok("header-buffer-size=8192").header_buffer_size, 8192);
    assert_eq!(ok("header-buffer-size=0").header_buffer_size, 32768, "0 = default, as in mod_wsgi");
    assert_bad_value("header-buffer-size", "8191");
    assert_eq!(ok("response-buffer-size=65536").response_buffer_size, 65536);
    assert_eq!(ok("response-buffer-size=0").response_buffer_size, 8 * 1024 * 1024);
    assert_bad_value("response-buffer-size", "65535");
    assert_eq!(ok("send-buffer-size=0").send_buffer_size, 0);
    assert_eq!(ok("send-buffer-size=512").send_buffer_size, 512);
    assert_bad_value("send-buffer-size", "511");
    assert_bad_value("send-buffer-size", "1");
    assert_eq!(ok("receive-buffer-size=0").receive_buffer_size, 0);
    assert_eq!(ok("receive-buffer-size=1048576").receive_buffer_size, 1048576);
    assert_bad_value("receive-buffer-size", "511");
    for key in ["header-buffer-size", "response-buffer-size", "send-buffer-size", "receive-buffer-size"] {
        assert_eq!(ok(&format!("{key}=2147483647")), {
            let mut d = ok(&format!("{key}=0"));
            match key {
                "header-buffer-size" => d.header_buffer_size = 2147483647,
                "response-buffer-size" => d.response_buffer_size = 2147483647,
                "send-buffer-size" => d.send_buffer_size = 2147483647,
                _ => d.receive_buffer_size = 2147483647,
            }
            d
        });
        for bad in ["-1", "", "64k", "2147483648"] {
            assert_bad_value(key, bad);
        }
    }
}

#[test]
fn stack_size() {
    assert_eq!(ok("stack-size=65536").stack_size, Some(65536));
    assert_eq!(ok("stack-size=524288").stack_size, Some(524288));
    assert_eq!(ok("stack-size=2147483647").stack_size, Some(2147483647));
    for bad in ["0", "65535", "-1", "", "512k", "2147483648"] {
        assert_bad_value("stack-size", bad);
    }
}

#[test]
fn cpu_priority() {
    assert_eq!(ok("cpu-priority=-20").cpu_priority, Some(-20));
    assert_eq!(ok("cpu-priority=19").cpu_priority, Some(19));
    assert_eq!(ok("cpu-priority=5").cpu_priority, Some(5));
    assert_eq!(ok("cpu-priority=0").cpu_priority, None, "0 = no setpriority, as in mod_wsgi");
    assert_eq!(ok("cpu-priority=-0").cpu_priority, None);
    for bad in ["20", "-21", "+5", "--1", "-", "", "x", "1.0", "99999999999999999999"] {
        assert_bad_value("cpu-priority", bad);
    }
}

#[test]
fn memory_limits() {
    let o = parse(&["shop", "memory-limit=1073741824", "virtual-memory-limit=2147483648"]).unwrap();
    assert_eq!((o.memory_limit, o.virtual_memory_limit), (Some(1 << 30), Some(1 << 31)));
    assert_eq!(ok("memory-limit=0").memory_limit, None);
    assert_eq!(ok("virtual-memory-limit=0").virtual_memory_limit, None);
    assert_eq!(ok("memory-limit=9223372036854775807").memory_limit, Some(i64::MAX as u64));
    for key in ["memory-limit", "virtual-memory-limit"] {
        for bad in ["-1", "", "1G", "9223372036854775808"] {
            assert_bad_value(key, bad);
        }
    }
}

#[test]
fn display_titles() {
    let title = |v: &str| display_title(&parse(&["shop", &format!("display-name={v}")]).unwrap());
    assert_eq!(title("%{GROUP}").as_deref(), Some("(wsgi:shop)"));
    assert_eq!(title("httpd-shop").as_deref(), Some("httpd-shop"));
    // mod_wsgi expands %{GROUP} only as the whole value.
    assert_eq!(title("x-%{GROUP}").as_deref(), Some("x-%{GROUP}"));
    assert_eq!(title("").as_deref(), Some(""));
    let o = DaemonOptions { name: "blog".into(), display_name: Some("%{GROUP}".into()), ..DaemonOptions::default() };
    assert_eq!(display_title(&o).as_deref(), Some("(wsgi:blog)"));
}
