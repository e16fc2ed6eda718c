//! Helpers shared by the end-to-end tests (each test file includes this module; not every file uses all).
#![allow(dead_code)]

pub mod check_report;
pub mod hls_server;
pub mod icecast;
pub mod process;
pub mod radio;
pub mod tools;
