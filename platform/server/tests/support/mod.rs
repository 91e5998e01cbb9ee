//! Helpers shared by the test files that drive the `civitas` binary; each
//! file uses some of them.
#![allow(dead_code)]

pub mod pages;
pub mod server;
