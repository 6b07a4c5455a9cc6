//! `fake-discord TOKEN`: serves the stand-in REST API and gateway on loopback ports for that bot
//! token, printing `listening on http://127.0.0.1:PORT/api/v10` and then `gateway on
//! ws://127.0.0.1:PORT`. Steer it over HTTP under `/control/`.

use claw_testkit::discord::FakeDiscord;

#[tokio::main]
async fn main() {
    let Some(token) = std::env::args().nth(1) else {
        eprintln!("usage: fake-discord TOKEN");
        std::process::exit(2);
    };
    match FakeDiscord::start(&token).await {
        Ok(fake) => println!("listening on {}\ngateway on {}", fake.url(), fake.gateway_url()),
        Err(e) => {
            eprintln!("fake-discord: {e}");
            std::process::exit(1);
        }
    }
    std::future::pending::<()>().await;
}
