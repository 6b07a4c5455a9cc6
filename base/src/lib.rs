//! The orchestrator of a claw install, as a library: `main.rs` is the command line, and the
//! tests drive the same parts.
//!
//! ```text
//! channels --inbound--> store --> router --> group queue --> runner <==> agent (container)
//!                                   ^                          |
//! scheduler ------------------------+        outbound <--------+--> channels
//! ```

pub mod channels;
pub mod config;
pub mod doctor;
pub mod error;
pub mod groups;
pub mod host;
pub mod memory;
pub mod mounts;
pub mod ownership;
pub mod providers;
pub mod proxy;
pub mod queue;
pub mod requests;
pub mod router;
pub mod runner;
pub mod runtimes;
pub mod scheduler;
pub mod service;
pub mod store;
pub mod worker;
