//! `cargo bench --bench apply`: how long `claw skill apply` takes on a fresh install (no cargo
//! build), printed side by side with two plain git commands run on the same install, so the
//! figure reads as a ratio on whatever machine runs it. Then `claw skill apply telegram --replace
//! whatsapp` on a fresh default install beside `git apply` of the same diff, `git add -A` and
//! `git commit` on a copy of it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs per figure; `--quick` (CI) takes a few, for a trend in seconds.
fn runs() -> usize {
    if std::env::args().any(|a| a == "--quick") { 5 } else { 30 }
}
const BUDGET: Duration = Duration::from_millis(50);

fn main() {
    let claw = env!("CARGO_BIN_EXE_claw");
    let runs = runs();
    let skills = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/skills");
    let tmp = std::env::temp_dir().join(format!("claw-bench-{}", std::process::id()));
    let mut apply = Vec::new();
    let mut remove = Vec::new();
    let mut git_commit = Vec::new();
    let mut git_status = Vec::new();
    let mut claw_status = Vec::new();
    for i in 0..runs {
        let parent = tmp.join(i.to_string());
        std::fs::create_dir_all(&parent).expect("bench folder");
        run(Command::new(claw).args(["init", "x", "--bare"]).current_dir(&parent));
        let dir = parent.join("x");
        apply.push(time(
            Command::new(claw).args(["skill", "apply", "alpha", "--yes"]).env("CLAW_SKILLS", &skills).current_dir(&dir),
        ));
        remove.push(time(
            Command::new(claw).args(["skill", "remove", "alpha"]).env("CLAW_SKILLS", &skills).current_dir(&dir),
        ));
        git_status.push(time(Command::new("git").args(["status", "--porcelain"]).current_dir(&dir)));
        claw_status.push(time(Command::new(claw).args(["status"]).env("CLAW_SKILLS", &skills).current_dir(&dir)));
        git_commit.push(time(
            Command::new("git")
                .args(["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "--allow-empty", "-m", "bench"])
                .current_dir(&dir),
        ));
    }
    let _ = std::fs::remove_dir_all(&tmp);
    let reference = median(&mut git_commit);
    println!("claw skill apply, fresh install, no cargo build ({runs} runs; budget {} ms)", BUDGET.as_millis());
    for (name, samples) in [
        ("claw skill apply alpha", &mut apply),
        ("claw skill remove alpha", &mut remove),
        ("git status", &mut git_status),
        ("claw status", &mut claw_status),
        ("git commit --allow-empty", &mut git_commit),
    ] {
        let m = median(samples);
        println!(
            "  {name:<26} median {:>7.2} ms  p90 {:>7.2} ms  {:>5.2}x git commit",
            ms(m),
            ms(percentile(samples, 0.9)),
            ms(m) / ms(reference)
        );
    }
    println!(
        "  claw status / git status: {:.2}x (budget 2x)",
        ms(median(&mut claw_status)) / ms(median(&mut git_status))
    );
    let verdict = if median(&mut apply) <= BUDGET { "within" } else { "OVER" };
    println!("  apply median is {verdict} the {} ms budget", BUDGET.as_millis());
    replace_bench(claw, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// `claw skill apply telegram --replace whatsapp` on a fresh default install, beside git doing
/// the same change by hand on a copy of that install: `git apply` of the same diff, `git add -A`
/// and `git commit`.
fn replace_bench(claw: &str, tmp: &Path) {
    let runs = runs();
    let mut claw_replace = Vec::new();
    let mut git_replace = Vec::new();
    for i in 0..runs {
        let parent = tmp.join(format!("replace-{i}"));
        std::fs::create_dir_all(&parent).expect("bench folder");
        run(Command::new(claw).args(["init", "x"]).current_dir(&parent));
        let dir = parent.join("x");
        let copy = parent.join("copy");
        run(Command::new("cp").arg("-a").arg(&dir).arg(&copy));
        claw_replace.push(time(
            Command::new(claw).args(["skill", "apply", "telegram", "--replace", "whatsapp", "--yes"]).current_dir(&dir),
        ));
        let diff = Command::new("git").args(["diff", "--binary", "HEAD~1", "HEAD"]).current_dir(&dir).output();
        let patch = parent.join("change.patch");
        std::fs::write(&patch, diff.expect("git diff").stdout).expect("write the patch");
        let git = [
            time(Command::new("git").arg("apply").arg(&patch).current_dir(&copy)),
            time(Command::new("git").args(["add", "-A"]).current_dir(&copy)),
            time(
                Command::new("git")
                    .args(["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "bench"])
                    .current_dir(&copy),
            ),
        ];
        git_replace.push(git.iter().sum());
    }
    println!("claw skill apply telegram --replace whatsapp, fresh default install ({runs} runs)");
    for (name, samples) in [("claw apply --replace", &mut claw_replace), ("git apply + add + commit", &mut git_replace)]
    {
        println!("  {name:<26} median {:>7.2} ms  p90 {:>7.2} ms", ms(median(samples)), ms(percentile(samples, 0.9)));
    }
    println!(
        "  claw apply --replace / git apply + add + commit: {:.2}x (budget 2x)",
        ms(median(&mut claw_replace)) / ms(median(&mut git_replace))
    );
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn time(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    run(cmd);
    start.elapsed()
}

fn median(samples: &mut [Duration]) -> Duration {
    percentile(samples, 0.5)
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
