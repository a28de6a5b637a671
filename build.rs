//! Generates the Apache/APR bindings (bindgen over apache-headers/wrapper.h, headers located with
//! `apxs -q`), compiles the C macro shim, and links libpython with an rpath.
use std::env;
use std::path::PathBuf;
use std::process::Command;

/// One `apxs -q VAR` query (apxs joins several variables with `;;`, so ask one at a time).
fn apxs_query(apxs: &str, var: &str) -> String {
    let out = Command::new(apxs)
        .args(["-q", var])
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{apxs} -q {var}`: {e}; install apache2-dev or set APXS=/path/to/apxs"));
    if !out.status.success() {
        panic!("`{apxs} -q {var}` failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8(out.stdout).expect("apxs output is UTF-8").trim().to_string()
}

fn main() {
    println!("cargo:rerun-if-env-changed=APXS");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-changed=apache-headers");
    let apxs = env::var("APXS").unwrap_or_else(|_| "apxs".to_string());
    let mut includes: Vec<String> = Vec::new();
    for var in ["INCLUDEDIR", "APR_INCLUDEDIR", "APU_INCLUDEDIR"] {
        let dir = apxs_query(&apxs, var);
        if !dir.is_empty() && !includes.contains(&dir) {
            includes.push(dir);
        }
    }
    let defines = ["-DLINUX", "-D_REENTRANT", "-D_GNU_SOURCE"];
    let mut clang_args: Vec<String> = includes.iter().map(|d| format!("-I{d}")).collect();
    clang_args.push("-Iapache-headers".into());
    clang_args.extend(defines.iter().map(|s| s.to_string()));

    let bindings = bindgen::Builder::default()
        .header("apache-headers/wrapper.h")
        .clang_args(&clang_args)
        .allowlist_function("ap_.*|apr_.*|unixd_.*|wsgi_rs_.*")
        .allowlist_type("request_rec|server_rec|conn_rec|module|command_rec|cmd_parms|apr_.*|ap_.*|process_rec|authn_provider|authz_provider|authn_status|authz_status")
        .allowlist_var("ap_.*|AP_.*|AUTHN_.*|AUTHZ_.*|SATISFY_.*|REMOTE_.*|APR_.*|MODULE_MAGIC_.*|OK|DECLINED|DONE|HTTP_.*|M_.*|APLOG_.*|RSRC_CONF|ACCESS_CONF|OR_.*|REQUEST_.*|PROXYREQ_.*|MPM_.*|OPT_.*|NOT_IN_.*|GLOBAL_ONLY|EXEC_ON_READ|RAW_ARGS|TAKE.*|FLAG|ITERATE.*|NO_ARGS")
        .blocklist_function(".*vprintf.*|apr_pvsprintf|ap_vrprintf")
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .derive_default(true)
        .generate()
        .expect("bindgen over apache-headers/wrapper.h failed (is clang/libclang-dev installed?)");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    bindings.write_to_file(out.join("apache_bindings.rs")).expect("write bindings");

    let mut cc = cc::Build::new();
    cc.file("apache-headers/shim.c").include("apache-headers");
    for d in &includes {
        cc.include(d);
    }
    for d in defines {
        cc.flag(d);
    }
    cc.warnings(true).compile("wsgi_rs_shim");

    // libpython: pyo3 emits -lpython3.X; add an rpath so the module binds to the libpython of the
    // Python it was built for, not another copy with the same SONAME.
    let py = pyo3_build_config::get();
    if let Some(dir) = py.lib_dir() {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-rpath,{dir}");
    }
    let exe = py.executable().map(|s| s.to_string()).unwrap_or_else(|| "/usr/bin/python3".into());
    println!("cargo:rustc-env=WSGI_RS_PYTHON_EXECUTABLE={exe}");
    let version = format!("{}.{}", py.version().major, py.version().minor);
    println!("cargo:rustc-env=WSGI_RS_PYTHON_VERSION={version}");
}
