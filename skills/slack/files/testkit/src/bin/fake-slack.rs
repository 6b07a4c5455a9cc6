//! `fake-slack BOT_TOKEN APP_TOKEN`: serves the stand-in Web API and Socket Mode on loopback ports
//! for those tokens, printing `listening on http://127.0.0.1:PORT/api`. Steer it over HTTP under
//! `/control/`.

use claw_testkit::slack::FakeSlack;

#[tokio::main]
async fn main() {
    let (Some(bot), Some(app)) = (std::env::args().nth(1), std::env::args().nth(2)) else {
        eprintln!("usage: fake-slack BOT_TOKEN APP_TOKEN");
        std::process::exit(2);
    };
    match FakeSlack::start(&bot, &app).await {
        Ok(fake) => println!("listening on {}", fake.url()),
        Err(e) => {
            eprintln!("fake-slack: {e}");
            std::process::exit(1);
        }
    }
    std::future::pending::<()>().await;
}
