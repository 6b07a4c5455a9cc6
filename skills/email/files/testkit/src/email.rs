//! Real mail servers for tests, on loopback: Dovecot (IMAP with IDLE, from Debian's
//! `dovecot-imapd`) with one mailbox, and an SMTP server (`aiosmtpd` from PyPI, with AUTH) that
//! keeps every mail it accepts as a file. Mail is delivered to the mailbox by IMAP APPEND, as a
//! delivery agent would. Each instance lives in its own temporary folder and stops when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ADDRESS: &str = "assistant@example.test";
pub const PASSWORD: &str = "mail-test-password";

/// The SMTP server: AUTH PLAIN/LOGIN without TLS (loopback only), one file per accepted mail.
const SMTP_SERVER: &str = r#"
import logging, os, sys, time, warnings
warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
port, user, password, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class Keep:
    async def handle_DATA(self, server, session, envelope):
        name = os.path.join(out, "%06d.eml" % len(os.listdir(out)))
        with open(name + ".tmp", "wb") as f:
            f.write(b"X-Envelope-To: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n" + envelope.original_content)
        os.rename(name + ".tmp", name)
        return "250 OK"
def check(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login.decode() == user and data.password.decode() == password
    return AuthResult(success=ok)
c = Controller(Keep(), hostname="127.0.0.1", port=port, authenticator=check, auth_required=True,
               auth_require_tls=False)
c.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"#;

pub struct MailServers {
    pub imap_port: u16,
    pub smtp_port: u16,
    dir: tempfile::TempDir,
    children: Vec<Child>,
}

impl MailServers {
    /// Starts Dovecot and the SMTP server; the mailbox `ADDRESS` logs in with `password`.
    pub fn start(password: &str) -> std::io::Result<MailServers> {
        let dir = tempfile::tempdir()?;
        let root = dir.path().to_path_buf();
        let (imap_port, smtp_port) = (free_port()?, free_port()?);
        for sub in ["run", "mail", "sent"] {
            std::fs::create_dir(root.join(sub))?;
        }
        std::fs::write(root.join("passwd"), format!("{ADDRESS}:{{PLAIN}}{password}\n"))?;
        // Dovecot's login processes never run as root; as root, mail belongs to its own user.
        // SAFETY: getuid and getgid only read the process's ids.
        let (uid, gid) = (unsafe { libc::getuid() }, unsafe { libc::getgid() });
        let (internal, group, login, mail_uid, mail_gid) = match uid {
            0 => ("dovecot".into(), "dovecot".into(), "dovenull".into(), id("-u", "dovecot")?, id("-g", "dovecot")?),
            _ => {
                let me = id_name("-un").unwrap_or_default();
                (me.clone(), id_name("-gn").unwrap_or_default(), me, uid, gid)
            }
        };
        if uid == 0 {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755))?;
            std::fs::set_permissions(root.join("mail"), std::fs::Permissions::from_mode(0o777))?;
        }
        let r = root.display();
        let conf = format!(
            "base_dir = {r}/run\nstate_dir = {r}/run\nlog_path = {r}/dovecot.log\nprotocols = imap\nlisten = 127.0.0.1\n\
             ssl = no\ndisable_plaintext_auth = no\nauth_mechanisms = plain login\n\
             default_internal_user = {internal}\ndefault_internal_group = {group}\ndefault_login_user = {login}\n\
             first_valid_uid = 1\nmail_location = maildir:{r}/mail/%u\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {r}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid={mail_uid} gid={mail_gid} home={r}/mail/%u\n}}\n\
             service anvil {{\n  chroot =\n}}\nservice imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {imap_port}\n  }}\n  \
             inet_listener imaps {{\n    port = 0\n  }}\n}}\n"
        );
        std::fs::write(root.join("dovecot.conf"), conf)?;
        let mut children = Vec::new();
        let dovecot = std::env::var("DOVECOT").unwrap_or_else(|_| "/usr/sbin/dovecot".into());
        let conf = root.join("dovecot.conf");
        children.push(Command::new(dovecot).arg("-F").arg("-c").arg(&conf).stdin(Stdio::null()).spawn()?);
        let mut smtp = Command::new("python3")
            .args(["-c", SMTP_SERVER, &smtp_port.to_string(), ADDRESS, password])
            .arg(root.join("sent"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let ready = smtp.stdout.take().map(|out| BufReader::new(out).lines().next());
        children.push(smtp);
        let servers = MailServers { imap_port, smtp_port, dir, children };
        if !matches!(ready, Some(Some(Ok(ref line))) if line == "ready") {
            return Err(std::io::Error::other("the SMTP server (python3 -m pip install aiosmtpd) did not start"));
        }
        servers.wait_for_imap()?;
        Ok(servers)
    }

    pub fn imap_url(&self) -> String {
        format!("imap://127.0.0.1:{}", self.imap_port)
    }

    pub fn smtp_url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.smtp_port)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Delivers one raw mail into the mailbox (IMAP APPEND); returns its UID's server answer.
    pub fn deliver(&self, raw: &str) -> std::io::Result<String> {
        let raw = raw.replace("\r\n", "\n").replace('\n', "\r\n");
        let mut imap = Imap::connect(self.imap_port)?;
        imap.command(&format!("a LOGIN \"{ADDRESS}\" \"{}\"", self.password()?))?;
        imap.write(&format!("b APPEND INBOX {{{}}}\r\n", raw.len()))?;
        imap.line()?; // "+ OK": the literal may follow.
        imap.write(&raw)?;
        let answer = imap.command("")?;
        imap.command("c LOGOUT")?;
        Ok(answer)
    }

    /// Every mail the SMTP server accepted, in order, with `X-Envelope-To` first.
    pub fn sent(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.path().join("sent"))
            .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "eml")).collect())
            .unwrap_or_default();
        names.sort();
        names.iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect()
    }

    fn password(&self) -> std::io::Result<String> {
        let line = std::fs::read_to_string(self.path().join("passwd"))?;
        Ok(line.trim().rsplit("{PLAIN}").next().unwrap_or("").to_string())
    }

    fn wait_for_imap(&self) -> std::io::Result<()> {
        let start = Instant::now();
        loop {
            match Imap::connect(self.imap_port) {
                Ok(_) => return Ok(()),
                Err(e) if start.elapsed() > Duration::from_secs(20) => {
                    let log = std::fs::read_to_string(self.path().join("dovecot.log")).unwrap_or_default();
                    return Err(std::io::Error::other(format!("dovecot did not start ({e}): {log}")));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for MailServers {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A line-at-a-time IMAP connection, enough to log in and append.
struct Imap(BufReader<TcpStream>);

impl Imap {
    fn connect(port: u16) -> std::io::Result<Imap> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut imap = Imap(BufReader::new(stream));
        imap.line()?;
        Ok(imap)
    }

    fn write(&mut self, text: &str) -> std::io::Result<()> {
        self.0.get_mut().write_all(text.as_bytes())
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        self.0.by_ref().take(1 << 16).read_line(&mut line)?;
        Ok(line)
    }

    /// Sends `command` (tagged `x ...`) and reads up to its tagged answer, which must be OK.
    fn command(&mut self, command: &str) -> std::io::Result<String> {
        self.write(&format!("{command}\r\n"))?;
        let tag = command.split(' ').next().filter(|t| !t.is_empty()).unwrap_or("b");
        loop {
            let line = self.line()?;
            if line.is_empty() {
                return Err(std::io::Error::other("imap: connection closed"));
            }
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                return match rest.starts_with("OK") {
                    true => Ok(rest.trim().to_string()),
                    false => Err(std::io::Error::other(format!("imap: {command:?}: {rest}"))),
                };
            }
        }
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn id(flag: &str, user: &str) -> std::io::Result<u32> {
    let out = Command::new("id").args([flag, user]).output()?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| std::io::Error::other(format!("no user {user}: install dovecot-imapd")))
}

fn id_name(flag: &str) -> Option<String> {
    let out = Command::new("id").arg(flag).output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
