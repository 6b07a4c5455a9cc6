//! `fake-gmail`: serves the stand-in Gmail API and Google OAuth endpoints on a loopback port,
//! printing `listening on http://127.0.0.1:PORT`. Steer it over HTTP under `/control/`.

use claw_testkit::gmail::FakeGmail;

#[tokio::main]
async fn main() {
    match FakeGmail::start().await {
        Ok(fake) => println!("listening on {}", fake.url()),
        Err(e) => {
            eprintln!("fake-gmail: {e}");
            std::process::exit(1);
        }
    }
    std::future::pending::<()>().await;
}
