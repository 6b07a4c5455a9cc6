//! `fake-model SCRIPT.json`: serves the scripted replies on a loopback port, printing
//! `listening on http://127.0.0.1:PORT`; each request is printed as one JSON line on stderr.

use claw_testkit::{FakeModel, Step};

#[tokio::main]
async fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: fake-model SCRIPT.json");
        std::process::exit(2);
    };
    let script: Vec<Step> = match std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fake-model: {path}: {e}");
            std::process::exit(2);
        }
    };
    let model = match FakeModel::start(script).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("fake-model: {e}");
            std::process::exit(1);
        }
    };
    println!("listening on {}", model.url());
    let mut seen = 0;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let requests = model.requests();
        for r in &requests[seen..] {
            eprintln!("{}", serde_json::json!({ "path": r.path, "headers": r.headers, "body": r.body }));
        }
        seen = requests.len();
    }
}
