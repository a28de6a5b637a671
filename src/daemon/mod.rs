//! Daemon mode, Apache side. `registry`: the groups the directives define (shared data).
//! `parent`: the root Apache parent's part (sockets, launching the spawner). `process`: the
//! spawner and the daemon processes it forks (privileges, title, start-up). `client`: an Apache
//! child forwarding a request to its group, `pool` its idle connections.
pub mod client;
pub mod parent;
pub mod pool;
pub mod process;
pub mod registry;
