//! `fake-model SCRIPT.json`: serves the scripted replies on a loopback port, printing
//! `listening on http://127.0.0.1:PORT`; each request is printed as one JSON line on stderr.

use claw_testkit::FakeModel;

#[tokio::main]
async fn main() {
    let script = claw_testkit::read_script("fake-model", std::env::args().nth(1).as_deref());
    match FakeModel::start(script).await {
        Ok(model) => claw_testkit::print_requests(model.url(), || model.requests()).await,
        Err(e) => {
            eprintln!("fake-model: {e}");
            std::process::exit(1);
        }
    }
}
