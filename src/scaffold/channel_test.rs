//! The __NAME__ channel is built into the install and names its key when it is missing.

use claw_host::channels;
use claw_host::config::Config;

#[test]
fn __MODULE___is_registered() {
    assert!(channels::registry().iter().any(|(name, _)| *name == "__NAME__"));
}

#[test]
fn __MODULE___names_its_key_when_it_is_missing() {
    if std::env::var_os("__ENV__").is_some() {
        return; // set in this shell: nothing to check without changing the environment
    }
    let err = channels::__MODULE__::open(&Config::default()).err().unwrap_or_default();
    assert!(err.contains("__ENV__"), "{err}");
}
