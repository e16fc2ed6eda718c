//! Helpers shared by the end-to-end tests (each test file includes this module; not every file uses all).
#![allow(dead_code)]

pub mod radio;
