//! `wsgi-express`: one command from a WSGI script to a production Apache with mod_wsgi_rs
//! (daemon mode, safe timeouts), in the spirit of mod_wsgi-express. See README "wsgi-express".
mod access;
mod cli;
mod conf;
mod module;
mod plan;
mod run;
mod sys;

use clap::Parser;

use cli::{Cli, Command};

/// A failure reported as one line on standard error, exit status 1.
#[derive(Debug)]
pub struct Fail(pub String);

fn command_line() -> String {
    std::env::args()
        .map(|a| if a.is_empty() || a.contains(char::is_whitespace) { format!("'{a}'") } else { a })
        .collect::<Vec<_>>()
        .join(" ")
        .replace('\n', " ")
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::StartServer(a) => plan::plan(a, !a.setup_only, !a.setup_only).and_then(|p| {
            if a.setup_only { run::setup_server(&p, &command_line()) } else { run::start_server(&p, &command_line()) }
        }),
        Command::SetupServer(a) => plan::plan(a, false, false).and_then(|p| run::setup_server(&p, &command_line())),
        Command::ModuleConfig(a) => module::module_config(a).map(|_| 0),
        Command::ModuleLocation(a) => module::module_location(a).map(|_| 0),
        Command::InstallModule(a) => module::install_module(a).map(|_| 0),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(Fail(msg)) => {
            eprintln!("wsgi-express: error: {msg}");
            std::process::exit(1);
        }
    }
}
