//! Processes of daemon mode: the spawner (a clean exec of Apache's binary) and the daemon
//! processes it forks, from fork to `_exit`.
pub mod child;
pub mod hygiene;
pub mod privileges;
pub mod spawner;
pub mod title;
