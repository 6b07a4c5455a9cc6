//! `claw-host doctor`: whether this install can run, each check with what to do if it fails.

use std::path::Path;

use crate::config::{self, Config};

pub async fn doctor(config_path: &Path) -> Result<(), String> {
    let mut failed = 0;
    let mut check = |name: &str, result: Result<String, String>| match result {
        Ok(detail) => println!("ok    {name}: {detail}"),
        Err(why) => {
            failed += 1;
            println!("FAIL  {name}: {why}");
        }
    };
    let config = Config::load(config_path);
    let found = if config_path.exists() { "parsed" } else { "absent: the defaults apply" };
    check("configuration", config.as_ref().map(|_| format!("{} {found}", config_path.display())).map_err(Clone::clone));
    let config = config.unwrap_or_default();
    let route = crate::providers::find(&config.model.provider).unwrap_or(crate::providers::anthropic::ROUTE);
    let upstream = config.model.upstream.as_deref().unwrap_or(route.upstream);
    let key = route.key_env.map_or("no key needed".into(), |k| format!("key in {k}"));
    check("provider", Ok(format!("{} at {upstream} ({key})", route.provider)));
    let missing = config::missing(&route);
    let credentials = missing.is_empty().then(|| "set (kept in the host only)".to_string());
    check("credentials", credentials.ok_or_else(|| format!("{} not set; add them to .env", missing.join(", "))));
    check("model API", reachable(upstream).await);
    match crate::runtimes::open(&config.container).await {
        Ok(engine) => {
            check(&config.container.runtime, Ok(format!("reachable at {}", engine.endpoint())));
            engine.check(&config.container.image).await.into_iter().for_each(|(name, result)| check(&name, result));
        }
        Err(e) => check(&config.container.runtime, Err(e)),
    }
    let groups = crate::store::Store::open(&config.data_dir.join("claw.db")).and_then(|s| s.groups());
    check(
        "groups",
        groups.and_then(|g| {
            g.iter().try_for_each(|g| crate::groups::validate_folder(&g.folder))?;
            Ok(match g.len() {
                0 => "none registered yet (claw-host register ...)".into(),
                n => format!("{n} registered"),
            })
        }),
    );
    let channels = crate::channels::open(&config).map(|open| open.iter().map(|c| c.name()).collect::<Vec<_>>());
    check("channels", channels.map(|names| names.join(", ")));
    for (channel, status) in crate::channels::status::read_all(&config.data_dir) {
        check(&format!("channel {channel}"), status);
    }
    let private = private_paths(&config.data_dir);
    let wide: Vec<_> =
        private.iter().filter_map(|(path, max)| Some((path, max, crate::ownership::too_wide(path, *max)?))).collect();
    if wide.is_empty() {
        check("modes", Ok("the data folder, claw.db, .env and sockets are owner-only".into()));
    }
    for (path, max, mode) in wide {
        let p = path.display();
        check("modes", Err(format!("{p} is {mode:o}, open to other users; run: chmod {max:o} {p}")));
    }
    check("disk", free_space(&config.data_dir));
    if failed > 0 { Err(format!("{failed} check(s) failed")) } else { Ok(()) }
}

/// Whether the model API answers at all (any HTTP status will do; no key is sent), within a
/// short timeout, through the configured upstream.
async fn reachable(upstream: &str) -> Result<String, String> {
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5));
    let client = client.redirect(reqwest::redirect::Policy::none()).build().map_err(|e| e.to_string())?;
    match client.head(upstream).send().await {
        Ok(r) => Ok(format!("{upstream} answers (HTTP {})", r.status().as_u16())),
        Err(e) => Err(format!("{upstream} did not answer within 5 s ({e}); check the network or [model] upstream")),
    }
}

/// What only the host (and a group's own container) may open, with the widest mode allowed.
fn private_paths(data_dir: &Path) -> Vec<(std::path::PathBuf, u32)> {
    let mut paths = vec![
        (data_dir.to_path_buf(), 0o700),
        (data_dir.join("claw.db"), 0o600),
        (".env".into(), 0o600),
        (data_dir.join("sockets"), 0o700),
    ];
    for parent in ["groups", "sockets"] {
        let entries = std::fs::read_dir(data_dir.join(parent)).into_iter().flatten().flatten();
        paths.extend(entries.map(|e| (e.path(), 0o700)));
    }
    paths
}

fn free_space(dir: &Path) -> Result<String, String> {
    let probe = if dir.exists() { dir } else { Path::new(".") };
    let c = std::ffi::CString::new(probe.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: statvfs writes only into the zeroed struct we pass; the path is a valid C string.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(format!("cannot read free space of {}", probe.display()));
    }
    let free = s.f_bavail as u64 * s.f_frsize as u64 / (1 << 20);
    if free < 1024 { Err(format!("only {free} MiB free")) } else { Ok(format!("{free} MiB free")) }
}
