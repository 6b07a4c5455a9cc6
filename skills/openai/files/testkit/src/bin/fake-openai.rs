//! `fake-openai SCRIPT.json [KEY]`: serves the stand-in Chat Completions API with the scripted
//! replies on a loopback port, printing `listening on http://127.0.0.1:PORT`; with KEY, only
//! requests bearing `Authorization: Bearer KEY` are answered. Each request is printed as one JSON
//! line on stderr.

use claw_testkit::openai::FakeOpenAi;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let script = claw_testkit::read_script("fake-openai", args.first().map(String::as_str));
    match FakeOpenAi::start(script, args.get(1).map(String::as_str)).await {
        Ok(fake) => claw_testkit::print_requests(fake.url(), || fake.requests()).await,
        Err(e) => {
            eprintln!("fake-openai: {e}");
            std::process::exit(1);
        }
    }
}
