//! Daemon mode, Apache side: the group registry filled by the directives, the supervisor in
//! the root parent (sockets, fork, restart), the daemon process start-up (privileges, Python)
//! and the client that forwards a request from an Apache child to its group.
pub mod child;
pub mod client;
pub mod privileges;
pub mod registry;
pub mod spawner;
pub mod supervisor;
pub mod title;
