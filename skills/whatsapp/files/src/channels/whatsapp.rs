//! WhatsApp through WhatsApp Web multi-device (`whatsapp-rust`): this host is a linked device of
//! a phone. Pairing shows a QR code in the terminal and writes it to `data/whatsapp/qr.png`; the
//! session (the device's keys) lives in `data/whatsapp/` (0700, files 0600), which no container
//! ever mounts. The library reconnects by itself; if its run ends anyway, it is restarted with
//! backoff, except after a logout. State goes to `claw-host doctor` through the channel status.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use whatsapp_rust::prelude::*;

use super::{BoxFuture, Channel, Inbound, Result};
use crate::config::{self, Config};

/// The longest wait before starting the connection again.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
const STEADY: Duration = Duration::from_secs(60); // connected this long: the backoff starts over

pub fn open(config: &Config) -> Result<Box<dyn Channel>> {
    let own_number = config::env("WHATSAPP_OWN_NUMBER")?.is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
    Ok(Box::new(WhatsApp(Arc::new(Shared {
        dir: config.data_dir.join("whatsapp"),
        data_dir: config.data_dir.clone(),
        assistant: config.assistant_name.clone(),
        own_number,
        client: Mutex::new(None),
        names: Mutex::new(HashMap::new()),
        logged_out: AtomicBool::new(false),
        connected: AtomicBool::new(false),
    }))))
}

struct WhatsApp(Arc<Shared>);

struct Shared {
    /// The session store and the pairing QR code.
    dir: PathBuf,
    data_dir: PathBuf,
    assistant: String,
    /// The assistant shares the person's own number: its replies carry its name, and the
    /// person's own messages are theirs, not echoes of the assistant.
    own_number: bool,
    client: Mutex<Option<Arc<Client>>>,
    /// Group subjects by chat id.
    names: Mutex<HashMap<String, String>>,
    logged_out: AtomicBool,
    /// Set when a connection succeeds; the restart backoff starts over after one.
    connected: AtomicBool,
}

impl Shared {
    fn report(&self, up: bool, detail: &str) {
        super::report(&self.data_dir, "whatsapp", up, detail);
    }

    /// Runs the connection for as long as the process lives, restarting it with backoff.
    async fn run(self: Arc<Self>, inbound: mpsc::Sender<Inbound>) {
        let mut failures = 0;
        loop {
            let started = std::time::Instant::now();
            if let Err(e) = self.clone().connect_once(inbound.clone()).await {
                tracing::error!("whatsapp: {e}");
                self.report(false, &e);
            }
            // Only a connection that stayed up a while starts the backoff over.
            let steady = self.connected.swap(false, Ordering::Relaxed) && started.elapsed() >= STEADY;
            failures = next_failures(failures, steady);
            let Some(wait) = restart_after(self.logged_out.load(Ordering::Relaxed), failures) else {
                tracing::error!("whatsapp: logged out; remove {} and restart to pair again", self.dir.display());
                return;
            };
            tracing::warn!("whatsapp: the connection ended; starting it again in {} s", wait.as_secs());
            tokio::time::sleep(wait).await;
        }
    }

    async fn connect_once(self: Arc<Self>, inbound: mpsc::Sender<Inbound>) -> Result<()> {
        private_dir(&self.dir)?;
        let db = self.dir.join("session.db");
        let store =
            SqliteStore::new(&db.to_string_lossy()).await.map_err(|e| format!("opening {}: {e}", db.display()))?;
        private_files(&self.dir);
        let shared = self.clone();
        let bot = Bot::builder()
            .with_backend(store)
            .skip_history_sync()
            .on_event(move |event, client| {
                let (shared, inbound) = (shared.clone(), inbound.clone());
                async move { shared.on_event(&event, &client, &inbound).await }
            })
            .build()
            .await
            .map_err(|e| format!("starting: {e}"))?;
        *self.client.lock().unwrap_or_else(|e| e.into_inner()) = Some(bot.client());
        bot.run().await;
        Ok(())
    }

    async fn on_event(&self, event: &Event, client: &Arc<Client>, inbound: &mpsc::Sender<Inbound>) {
        if let Some((up, detail)) = status(event) {
            self.report(up, &detail);
        }
        match event {
            Event::PairingQrCode(qr) => match show_qr(&qr.code, &self.dir) {
                Ok(text) => eprintln!("Scan with WhatsApp > Linked devices (also in {}):\n{text}", self.dir.display()),
                Err(e) => tracing::error!("whatsapp: showing the QR code: {e}"),
            },
            Event::PairSuccess(_) => {
                let _ = std::fs::remove_file(self.dir.join("qr.png"));
            }
            Event::Connected(_) => {
                self.connected.store(true, Ordering::Relaxed);
                private_files(&self.dir);
                tracing::info!("whatsapp: connected");
                if let Ok(groups) = client.groups().get_participating().await {
                    let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
                    names.extend(groups.into_iter().map(|(jid, g)| (jid.to_string(), g.subject)));
                }
            }
            Event::LoggedOut(_) => self.logged_out.store(true, Ordering::Relaxed),
            Event::GroupUpdate(update) => {
                self.names.lock().unwrap_or_else(|e| e.into_inner()).remove(&update.group_jid.to_string());
            }
            Event::Messages(batch) => {
                for m in batch.iter() {
                    let name = self.chat_name(client, &m.info).await;
                    let Some(msg) = to_inbound(&m.message, &m.info, name, self.own_number, &self.assistant) else {
                        continue;
                    };
                    let (ack, stored) = oneshot::channel();
                    if inbound.send(Inbound { stored: Some(ack), ..msg }).await.is_err() {
                        return;
                    }
                    // The library acknowledges the message once this handler returns.
                    let _ = stored.await;
                }
            }
            _ => {}
        }
    }

    /// A group's subject (fetched once, then kept in sync), or the sender's name in a direct chat.
    async fn chat_name(&self, client: &Arc<Client>, info: &MessageInfo) -> Option<String> {
        if !info.source.is_group {
            return (!info.source.is_from_me).then(|| info.push_name.clone());
        }
        let key = info.source.chat.to_string();
        if let Some(name) = self.names.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Some(name.clone());
        }
        let subject = client.groups().get_metadata(&info.source.chat).await.ok()?.subject;
        self.names.lock().unwrap_or_else(|e| e.into_inner()).insert(key, subject.clone());
        Some(subject)
    }

    fn connected(&self) -> Result<Arc<Client>> {
        self.client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| "whatsapp: not connected yet".into())
    }
}

impl Channel for WhatsApp {
    fn name(&self) -> &'static str {
        "whatsapp"
    }

    fn connect(&self, inbound: mpsc::Sender<Inbound>) -> BoxFuture<'_, Result<()>> {
        tokio::spawn(self.0.clone().run(inbound));
        Box::pin(async { Ok(()) })
    }

    fn send<'a>(&'a self, chat_jid: &'a str, text: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let client = self.0.connected()?;
            let text = outgoing(text, self.0.own_number, &self.0.assistant);
            client.send_message(jid(chat_jid)?, wa::Message::text(text)).await.map_err(|e| format!("whatsapp: {e}"))?;
            Ok(())
        })
    }

    fn set_typing<'a>(&'a self, chat_jid: &'a str, typing: bool) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let (Ok(client), Ok(to)) = (self.0.connected(), jid(chat_jid)) else { return };
            let state = client.chatstate();
            let sent = if typing { state.send_composing(&to).await } else { state.send_paused(&to).await };
            if let Err(e) = sent {
                tracing::debug!("whatsapp: typing: {e}");
            }
        })
    }
}

fn jid(chat_jid: &str) -> Result<Jid> {
    let id =
        chat_jid.strip_prefix("whatsapp:").ok_or_else(|| format!("whatsapp: {chat_jid} is not a WhatsApp chat"))?;
    id.parse().map_err(|e| format!("whatsapp: {chat_jid}: {e}"))
}

/// What the channel status says after an event, for `claw-host doctor`.
fn status(event: &Event) -> Option<(bool, String)> {
    Some(match event {
        Event::Connected(_) => (true, "connected".into()),
        Event::PairingQrCode(_) => (false, "waiting to be paired: scan the QR code (data/whatsapp/qr.png)".into()),
        Event::PairSuccess(_) => (false, "paired; connecting".into()),
        Event::Disconnected(d) => (false, format!("disconnected ({}); reconnecting", d.reason)),
        Event::LoggedOut(l) => {
            (false, format!("logged out ({:?}): remove data/whatsapp and restart to pair again", l.reason))
        }
        Event::ClientOutdated(_) => (false, "WhatsApp refused this client version: update the install".into()),
        _ => return None,
    })
}

/// Failed starts in a row: a run that stayed connected starts the count (and the backoff) over.
fn next_failures(failures: u32, was_connected: bool) -> u32 {
    if was_connected { 1 } else { failures + 1 }
}

/// How long to wait before connecting again, or `None` to stop (a logout needs a new pairing).
fn restart_after(logged_out: bool, failures: u32) -> Option<Duration> {
    (!logged_out).then(|| Duration::from_secs(2u64 << failures.min(8)).min(MAX_BACKOFF))
}

/// A message as the host stores it, or `None` for what is not a chat message (status updates,
/// reactions, protocol messages) and for the assistant's own replies in own-number mode.
fn to_inbound(
    message: &wa::Message,
    info: &MessageInfo,
    chat_name: Option<String>,
    own_number: bool,
    assistant: &str,
) -> Option<Inbound> {
    let chat = info.source.chat.to_string();
    if chat == "status@broadcast" || chat.ends_with("@newsletter") {
        return None;
    }
    let text = content(message)?;
    let mut is_from_me = info.source.is_from_me;
    if is_from_me && own_number {
        if text.starts_with(&format!("{assistant}: ")) {
            return None;
        }
        // The person typing on their own phone: a message like any other.
        is_from_me = false;
    }
    Some(Inbound {
        chat_jid: format!("whatsapp:{chat}"),
        chat_name,
        is_group: info.source.is_group,
        sender: info.source.sender.to_string(),
        sender_name: info.push_name.clone(),
        text,
        ts: info.timestamp.to_rfc3339(),
        is_from_me,
        external_id: Some(info.id.to_string()),
        stored: None,
    })
}

/// Text, or a placeholder the agent can read for media (with its caption).
fn content(message: &wa::Message) -> Option<String> {
    if let Some(text) = message.text_content() {
        return Some(text.to_string());
    }
    let m = message.get_base_message();
    let placeholder = if m.image_message.as_option().is_some() {
        "[image]".to_string()
    } else if m.video_message.as_option().is_some() {
        "[video]".to_string()
    } else if let Some(a) = m.audio_message.as_option() {
        let kind = if a.ptt == Some(true) { "voice message" } else { "audio" };
        format!("[{kind}, {} s]", a.seconds.unwrap_or(0))
    } else if let Some(d) = m.document_message.as_option() {
        format!("[document: {}]", d.file_name.as_deref().unwrap_or("unnamed"))
    } else if m.sticker_message.as_option().is_some() {
        "[sticker]".to_string()
    } else if let Some(l) = m.location_message.as_option() {
        format!("[location {:.5}, {:.5}]", l.degrees_latitude.unwrap_or(0.0), l.degrees_longitude.unwrap_or(0.0))
    } else if m.contact_message.as_option().is_some() {
        "[contact card]".to_string()
    } else {
        return None;
    };
    Some(match message.get_caption().filter(|c| !c.is_empty()) {
        Some(caption) => format!("{placeholder} {caption}"),
        None => placeholder,
    })
}

/// In own-number mode replies carry the assistant's name, so they are told apart.
fn outgoing(text: &str, own_number: bool, assistant: &str) -> String {
    if own_number { format!("{assistant}: {text}") } else { text.to_string() }
}

/// Renders the pairing code for the terminal and writes it as `qr.png` (0600) in `dir`.
fn show_qr(code: &str, dir: &Path) -> Result<String> {
    let qr = qrcode::QrCode::new(code.as_bytes()).map_err(|e| e.to_string())?;
    let text = qr.render::<qrcode::render::unicode::Dense1x2>().quiet_zone(true).build();
    let (modules, scale, quiet) = (qr.width(), 8, 4);
    let side = (modules + 2 * quiet) * scale;
    let colors = qr.to_colors();
    let pixels: Vec<u8> = (0..side * side)
        .map(|i| {
            let (x, y) = ((i % side) / scale, (i / side) / scale);
            let dark = x >= quiet && y >= quiet && x < modules + quiet && y < modules + quiet && {
                colors[(y - quiet) * modules + (x - quiet)] == qrcode::Color::Dark
            };
            if dark { 0 } else { 255 }
        })
        .collect();
    private_dir(dir)?;
    let path = dir.join("qr.png");
    let file = private_file(&path)?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let written = encoder.write_header().and_then(|mut w| w.write_image_data(&pixels));
    written.map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text)
}

fn private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| format!("{}: {e}", dir.display()))
}

fn private_file(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path);
    file.map_err(|e| format!("{}: {e}", path.display()))
}

/// The session files hold the device's keys: owner only, whatever the umask made them.
fn private_files(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whatsapp_rust::types::events::{Disconnected, LoggedOut, PairingQrCode};
    use whatsapp_rust::types::message::MessageSource;

    fn info(chat: &str, sender: &str, from_me: bool) -> MessageInfo {
        MessageInfo {
            source: MessageSource {
                chat: chat.parse().expect("jid"),
                sender: sender.parse().expect("jid"),
                is_from_me: from_me,
                is_group: chat.ends_with("@g.us"),
                ..Default::default()
            },
            id: "3EB0ABC".into(),
            push_name: "Ann".into(),
            ..Default::default()
        }
    }

    #[test]
    fn messages_map_to_the_hosts_shape() {
        let i = info("120363001@g.us", "15550001@s.whatsapp.net", false);
        let m = to_inbound(&wa::Message::text("@Andy hi"), &i, Some("Family".into()), false, "Andy").expect("mapped");
        assert_eq!(m.chat_jid, "whatsapp:120363001@g.us");
        assert_eq!((m.chat_name.as_deref(), m.is_group, m.is_from_me), (Some("Family"), true, false));
        assert_eq!(
            (m.sender.as_str(), m.sender_name.as_str(), m.text.as_str()),
            ("15550001@s.whatsapp.net", "Ann", "@Andy hi")
        );
        assert_eq!(m.external_id.as_deref(), Some("3EB0ABC"));
        let status = info("status@broadcast", "15550001@s.whatsapp.net", false);
        assert!(to_inbound(&wa::Message::text("story"), &status, None, false, "Andy").is_none());
        assert!(to_inbound(&wa::Message::default(), &i, None, false, "Andy").is_none(), "not a chat message");
    }

    #[test]
    fn media_become_placeholders_with_their_caption() {
        let image = wa::Message {
            image_message: MessageField::some(wa::message::ImageMessage {
                caption: Some("look".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(content(&image).as_deref(), Some("[image] look"));
        let voice = wa::Message {
            audio_message: MessageField::some(wa::message::AudioMessage {
                ptt: Some(true),
                seconds: Some(7),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(content(&voice).as_deref(), Some("[voice message, 7 s]"));
    }

    #[test]
    fn own_number_mode_prefixes_replies_and_drops_their_echoes() {
        assert_eq!(outgoing("done", true, "Andy"), "Andy: done");
        assert_eq!(outgoing("done", false, "Andy"), "done");
        let mine = info("15550001@s.whatsapp.net", "15550001@s.whatsapp.net", true);
        assert!(to_inbound(&wa::Message::text("Andy: done"), &mine, None, true, "Andy").is_none(), "its own echo");
        let typed = to_inbound(&wa::Message::text("@Andy remind me"), &mine, None, true, "Andy").expect("the person");
        assert!(!typed.is_from_me, "the person's own messages can trigger");
        let dedicated = to_inbound(&wa::Message::text("sent elsewhere"), &mine, None, false, "Andy").expect("stored");
        assert!(dedicated.is_from_me, "on a dedicated number, its own messages never trigger");
    }

    #[test]
    fn pairing_and_connection_state_reach_the_status() {
        let qr = Event::PairingQrCode(
            PairingQrCode::builder().code("2@abc".into()).timeout(Duration::from_secs(20)).build(),
        );
        assert!(matches!(status(&qr), Some((false, d)) if d.contains("scan the QR code")));
        let reason = whatsapp_rust::wacore::net::DisconnectReason::StreamEnded;
        let down = Event::Disconnected(Disconnected::builder().reason(reason).build());
        assert!(matches!(status(&down), Some((false, d)) if d.contains("reconnecting")));
        let reason = whatsapp_rust::types::events::ConnectFailureReason::LoggedOut;
        let out = Event::LoggedOut(LoggedOut::builder().on_connect(false).reason(reason).build());
        assert!(matches!(status(&out), Some((false, d)) if d.contains("pair again")));
    }

    #[test]
    fn the_connection_restarts_with_backoff_but_not_after_a_logout() {
        assert_eq!(restart_after(false, 1), Some(Duration::from_secs(4)));
        assert_eq!(restart_after(false, 3), Some(Duration::from_secs(16)));
        assert_eq!(restart_after(false, 50), Some(MAX_BACKOFF));
        assert_eq!(restart_after(true, 1), None);
        assert_eq!(next_failures(2, false), 3);
        assert_eq!(restart_after(false, next_failures(9, true)), Some(Duration::from_secs(4)), "after a connection");
    }

    #[test]
    fn the_qr_code_is_written_owner_only_and_shown_as_text() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let wa_dir = dir.path().join("whatsapp");
        let text = show_qr("2@pairing-ref,key,key,key", &wa_dir).expect("qr");
        assert!(text.lines().count() > 10 && text.contains('█'));
        let png = std::fs::read(wa_dir.join("qr.png")).expect("png");
        assert_eq!(&png[1..4], b"PNG");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!((mode(&wa_dir), mode(&wa_dir.join("qr.png"))), (0o700, 0o600));
    }

    #[tokio::test]
    async fn the_session_store_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let wa_dir = dir.path().join("whatsapp");
        private_dir(&wa_dir).expect("dir");
        SqliteStore::new(&wa_dir.join("session.db").to_string_lossy()).await.expect("the library's store");
        private_files(&wa_dir);
        for entry in std::fs::read_dir(&wa_dir).expect("dir").flatten() {
            assert_eq!(entry.metadata().expect("meta").permissions().mode() & 0o777, 0o600, "{:?}", entry.path());
        }
    }

    #[test]
    fn chat_ids_parse_and_foreign_chats_are_refused() {
        assert_eq!(jid("whatsapp:120363001@g.us").map(|j| j.to_string()), Ok("120363001@g.us".to_string()));
        assert!(jid("telegram:-100").is_err());
    }
}
