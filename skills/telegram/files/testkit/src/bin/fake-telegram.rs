//! `fake-telegram TOKEN`: serves the stand-in Bot API on a loopback port for that bot token,
//! printing `listening on http://127.0.0.1:PORT`. Steer it over HTTP under `/control/`.

use claw_testkit::telegram::FakeTelegram;

#[tokio::main]
async fn main() {
    let Some(token) = std::env::args().nth(1) else {
        eprintln!("usage: fake-telegram TOKEN");
        std::process::exit(2);
    };
    match FakeTelegram::start(&token).await {
        Ok(fake) => println!("listening on {}", fake.url()),
        Err(e) => {
            eprintln!("fake-telegram: {e}");
            std::process::exit(1);
        }
    }
    std::future::pending::<()>().await;
}
