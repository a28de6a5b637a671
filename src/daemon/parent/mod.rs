//! The root Apache parent's part of daemon mode: sockets and the spawner it launches.
pub mod supervisor;
