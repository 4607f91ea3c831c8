//! The editor setup that `docs/editors.md` documents, run as written. Neovim: the page's `lua`
//! block is the `init.lua` of a headless Neovim that opens a model with an error; the checks are
//! in `editors/neovim_setup_check.lua`. Skipped, visibly, where `nvim` is not installed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("runtime/ is in the repository").to_path_buf()
}

/// The first fenced block of `language` after the heading `heading` of a Markdown file.
fn block_after(markdown: &str, heading: &str, language: &str) -> String {
    let section = &markdown[markdown.find(heading).unwrap_or_else(|| panic!("no `{heading}`"))..];
    let fence = format!("```{language}\n");
    let start = section.find(&fence).unwrap_or_else(|| panic!("no {language} block after `{heading}`")) + fence.len();
    let end = start + section[start..].find("```").expect("the block ends");
    section[start..end].to_string()
}

/// Writes past the test harness's capture, so that a passing run shows the skip.
fn skipped(why: &str) {
    assert!(std::env::var_os("CI").is_none(), "CI must have Neovim: {why}");
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED neovim_runs_the_documented_setup: {why}");
}

#[test]
fn neovim_runs_the_documented_setup() {
    if Command::new("nvim").arg("--version").stdout(Stdio::null()).status().is_err() {
        skipped("`nvim` is not on PATH (apt-get install -y neovim)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("sylva-neovim-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let docs = std::fs::read_to_string(repo().join("docs/editors.md")).expect("docs/editors.md");
    std::fs::write(dir.join("init.lua"), block_after(&docs, "## Neovim", "lua")).expect("init.lua");
    std::fs::write(dir.join("model.syl"), "param p: mV = 1\nparam q: mV = p + nope\n").expect("model");

    // The documented `cmd = { 'sylva', 'lsp' }` finds the binary under test first on PATH.
    let bin = Path::new(env!("CARGO_BIN_EXE_sylva")).parent().expect("a directory").to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("PATH");
    let check = repo().join("runtime/tests/editors/neovim_setup_check.lua");
    let mut child = Command::new("nvim")
        .args(["--headless", "-u", "init.lua", "-c"])
        .arg(format!("luafile {}", check.display()))
        .arg("model.syl")
        .current_dir(&dir)
        .env("PATH", path)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nvim starts");
    let started = Instant::now();
    while child.try_wait().expect("nvim runs").is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("Neovim did not quit within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("nvim's output");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "a check failed:\n{text}");
    for check in ["ok   filetype sylva", "ok   comment string", "ok   a client named sylva", "ok   E0201 at line 2"] {
        assert!(text.contains(check), "missing `{check}`:\n{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
