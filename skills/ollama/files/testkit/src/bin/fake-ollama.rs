//! `fake-ollama SCRIPT.json`: serves the stand-in Ollama API with the scripted replies on a
//! loopback port, printing `listening on http://127.0.0.1:PORT`. Each request is printed as one
//! JSON line on stderr.

use claw_testkit::Step;
use claw_testkit::ollama::FakeOllama;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: fake-ollama SCRIPT.json");
        std::process::exit(2);
    };
    let script: Vec<Step> = match std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fake-ollama: {path}: {e}");
            std::process::exit(2);
        }
    };
    let fake = match FakeOllama::start(script).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("fake-ollama: {e}");
            std::process::exit(1);
        }
    };
    println!("listening on {}", fake.url());
    let mut seen = 0;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let requests = fake.requests();
        for r in &requests[seen..] {
            eprintln!("{}", serde_json::json!({ "path": r.path, "headers": r.headers, "body": r.body }));
        }
        seen = requests.len();
    }
}
