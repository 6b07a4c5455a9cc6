//! `fake-ollama SCRIPT.json`: serves the stand-in Ollama API with the scripted replies on a
//! loopback port, printing `listening on http://127.0.0.1:PORT`. Each request is printed as one
//! JSON line on stderr.

use claw_testkit::ollama::FakeOllama;

#[tokio::main]
async fn main() {
    let script = claw_testkit::read_script("fake-ollama", std::env::args().nth(1).as_deref());
    match FakeOllama::start(script).await {
        Ok(fake) => claw_testkit::print_requests(fake.url(), || fake.requests()).await,
        Err(e) => {
            eprintln!("fake-ollama: {e}");
            std::process::exit(1);
        }
    }
}
