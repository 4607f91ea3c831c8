//! `sylva lsp` driven as an editor drives it: the binary started, JSON-RPC with
//! `Content-Length` framing on its stdin and stdout, and assertions on what it publishes and
//! answers.
//!
//! Every test also fails on a panic the server caught and went on from, which an editor would
//! hardly show: a published internal-error diagnostic (E9999), a nonzero count from
//! `sylva/internalErrors` at shutdown, or a panic in the server's log.

use std::io::{BufRead, BufReader, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(60);

/// A language client talking to a `sylva lsp` process.
struct Client {
    child: Child,
    /// `None` once closed.
    stdin: Option<ChildStdin>,
    incoming: Receiver<Value>,
    /// The server's stderr so far; also echoed to ours, so that a failing test shows it.
    log: Arc<Mutex<String>>,
    log_reader: Option<JoinHandle<()>>,
    /// Notifications received while waiting for something else.
    pending: Vec<Value>,
    next_id: i64,
}

impl Client {
    fn start() -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sylva"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sylva lsp starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let log_reader = std::thread::spawn({
            let log = Arc::clone(&log);
            move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { return };
                    eprintln!("{line}");
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let (sender, incoming) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(n) = line.strip_prefix("Content-Length: ") {
                        length = n.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; length.expect("a Content-Length header")];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let message: Value = serde_json::from_slice(&body).expect("JSON");
                if sender.send(message).is_err() {
                    return;
                }
            }
        });
        let mut client = Client {
            child,
            stdin: Some(stdin),
            incoming,
            log,
            log_reader: Some(log_reader),
            pending: Vec::new(),
            next_id: 0,
        };
        let init = client.request("initialize", json!({ "processId": null, "rootUri": null, "capabilities": {} }));
        assert_eq!(init["serverInfo"]["name"], "sylva", "{init}");
        assert_eq!(init["capabilities"]["hoverProvider"], true, "{init}");
        client.notify("initialized", json!({}));
        client
    }

    fn send(&mut self, message: &Value) {
        let body = serde_json::to_string(message).expect("serialises");
        self.send_raw(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    }

    /// Writes `bytes` to the server's stdin as they are.
    fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(bytes).expect("server reads");
        stdin.flush().expect("flush");
    }

    /// Closes the server's stdin.
    fn close_input(&mut self) {
        self.stdin = None;
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// The next message from the server; fails on diagnostics that report an internal error.
    fn next(&mut self) -> Value {
        let message = match self.incoming.recv_timeout(TIMEOUT) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => {
                panic!("no message from the server in {TIMEOUT:?} (its stderr, if any, is above)")
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("the server closed its output (exit status {:?})", self.child.try_wait())
            }
        };
        if message["method"] == "textDocument/publishDiagnostics" {
            let params = &message["params"];
            for d in params["diagnostics"].as_array().into_iter().flatten() {
                assert!(
                    d["code"] != "E9999",
                    "an internal error published for {} at version {}: {}",
                    params["uri"],
                    params["version"],
                    d["message"]
                );
            }
        }
        message
    }

    /// Sends a request and waits for its response; its `result`.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let response = self.request_raw(method, params);
        assert!(response.get("error").is_none(), "{method} failed: {response}");
        response["result"].clone()
    }

    fn request_raw(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        loop {
            let message = self.next();
            if message.get("id") == Some(&json!(id)) && message.get("method").is_none() {
                return message;
            }
            if message.get("id").is_some() && message.get("method").is_some() {
                // A request from the server (registrations): answer it.
                let reply = json!({ "jsonrpc": "2.0", "id": message["id"], "result": null });
                self.send(&reply);
                continue;
            }
            self.pending.push(message);
        }
    }

    /// Waits for diagnostics published for `uri` (at `version` when given).
    fn diagnostics(&mut self, uri: &str, version: Option<i64>) -> Vec<Value> {
        let matches = |m: &Value| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri
                && version.is_none_or(|v| m["params"]["version"] == v)
        };
        if let Some(i) = self.pending.iter().position(matches) {
            let m = self.pending.remove(i);
            return m["params"]["diagnostics"].as_array().cloned().unwrap_or_default();
        }
        loop {
            let m = self.next();
            if matches(&m) {
                return m["params"]["diagnostics"].as_array().cloned().unwrap_or_default();
            }
            self.pending.push(m);
        }
    }

    fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "sylva", "version": 1, "text": text } }),
        );
    }

    fn change(&mut self, uri: &str, version: i64, changes: Value) {
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": changes }),
        );
    }

    fn at(&mut self, method: &str, uri: &str, (line, character): (u32, u32)) -> Value {
        self.request(
            method,
            json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } }),
        )
    }

    /// Checks that the server caught no panic, then shuts it down and checks that it exits
    /// cleanly with no panic in its stderr; its stderr.
    fn shutdown(mut self) -> String {
        let errors = self.request("sylva/internalErrors", Value::Null);
        assert_eq!(errors["panics"], 0, "the server caught panics (its stderr is above)");
        self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        let (status, log) = self.wait();
        assert!(status.success(), "sylva lsp exited with {status}");
        assert!(!log.contains("panic"), "the server's stderr (above) shows a panic");
        log
    }

    /// Waits for the server to exit; its exit status and stderr.
    fn wait(&mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("status") {
                break status;
            }
            assert!(Instant::now() < deadline, "sylva lsp did not exit");
            std::thread::sleep(Duration::from_millis(10));
        };
        // The log is complete once the server's stderr is closed.
        self.log_reader.take().expect("a log reader").join().expect("the log is read");
        (status, self.log.lock().unwrap().clone())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sylva-lsp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir.canonicalize().expect("canonical")
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// (line, UTF-16 column) of the first `needle` in `text`, plus `shift` characters.
fn pos(text: &str, needle: &str, shift: usize) -> (u32, u32) {
    let at = text.find(needle).unwrap_or_else(|| panic!("`{needle}` in the text"));
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[..at].matches('\n').count() as u32;
    (line, (text[line_start..at].encode_utf16().count() + shift) as u32)
}

fn range(start: (u32, u32), end: (u32, u32)) -> Value {
    json!({ "start": { "line": start.0, "character": start.1 }, "end": { "line": end.0, "character": end.1 } })
}

const LEAK: &str = "\
/// A leak.
density leak {
    current il
    /// Leak conductance density.
    param g: S/cm2 = 0.001 in [0, inf]
    param e: mV = -70
    il = g * (v - ee)
}
";

#[test]
fn diagnostics_follow_edits() {
    let dir = scratch("edits");
    let file = uri(&dir.join("leak.syl"));
    let mut client = Client::start();
    client.open(&file, LEAK);
    let diags = client.diagnostics(&file, Some(1));
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["code"], "E0201");
    assert_eq!(diags[0]["severity"], 1);
    assert!(diags[0]["message"].as_str().unwrap().starts_with("cannot find `ee` in this scope"), "{diags:?}");
    assert_eq!(diags[0]["range"], range(pos(LEAK, "ee)", 0), pos(LEAK, "ee)", 2)));

    // Delete one `e` of `ee`: fixed.
    client.change(&file, 2, json!([{ "range": range(pos(LEAK, "ee)", 0), pos(LEAK, "ee)", 1)), "text": "" }]));
    assert_eq!(client.diagnostics(&file, Some(2)), Vec::<Value>::new());

    // A broken mechanism before it does not hide the next one's error.
    let broken = format!("density broken {{\n    param x: mV = = 1\n}}\n\n{LEAK}");
    client.change(&file, 3, json!([{ "text": broken }]));
    let diags = client.diagnostics(&file, Some(3));
    let codes: Vec<&str> = diags.iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["E0101", "E0201"], "{diags:?}");
    assert_eq!(
        diags[1]["range"]["start"],
        json!({ "line": pos(&broken, "ee)", 0).0, "character": pos(&broken, "ee)", 0).1 })
    );
    client.shutdown();
}

#[test]
fn ranges_are_in_utf16_code_units() {
    let dir = scratch("utf16");
    let file = uri(&dir.join("u.syl"));
    // `µ` and `𝄞` before the error: 2 + 4 bytes, 1 + 2 UTF-16 units.
    let text = "param p: mV = 1 /* µ𝄞 */ + nope\n";
    let mut client = Client::start();
    client.open(&file, text);
    let diags = client.diagnostics(&file, Some(1));
    let e0201 = diags.iter().find(|d| d["code"] == "E0201").expect("undefined name");
    assert_eq!(e0201["range"], range(pos(text, "nope", 0), pos(text, "nope", 4)));
    assert_eq!(e0201["range"]["start"]["character"], 28);
    client.shutdown();
}

const CELL: &str = "\
import hh
import pas

cell c {
    morphology {
        section soma { length = 20 um, diam = 20 um, nseg = 1 }
    }
    insert hh in soma
    insert pas in soma { g = 1e-4 S/cm2 }
}
";

#[test]
fn hover_definition_symbols_and_completion() {
    let dir = scratch("features");
    let path = dir.join("cell.syl");
    let file = uri(&path);
    let mut client = Client::start();
    client.open(&file, CELL);
    client.diagnostics(&file, Some(1));

    // Hover on a parameter set on a mechanism: its unit, default and doc.
    let hover = client.at("textDocument/hover", &file, pos(CELL, "g = 1e-4", 0));
    let text = hover["contents"]["value"].as_str().expect("markdown");
    assert!(text.contains("parameter of density mechanism `pas`"), "{text}");
    assert!(text.contains("unit: `S/cm2`") && text.contains("default: `0.001`"), "{text}");
    assert_eq!(hover["range"], range(pos(CELL, "g = 1e-4", 0), pos(CELL, "g = 1e-4", 1)));

    // Hover on a mechanism: its summary.
    let hover = client.at("textDocument/hover", &file, pos(CELL, "hh in soma", 1));
    assert!(hover["contents"]["value"].as_str().unwrap().contains("Hodgkin"), "{hover}");

    // Definition of `hh` in `insert hh in soma`: the standard library's file, written out.
    let def = client.at("textDocument/definition", &file, pos(CELL, "hh in soma", 0));
    let target = def["uri"].as_str().expect("a location");
    assert!(target.starts_with("file://") && target.ends_with("/hh.syl"), "{def}");
    let std_text = std::fs::read_to_string(target.trim_start_matches("file://")).expect("the std file exists");
    assert_eq!(def["range"], range(pos(&std_text, "hh {", 0), pos(&std_text, "hh {", 2)));

    // Definition of `soma` in `insert hh in soma`: the section.
    let def = client.at("textDocument/definition", &file, pos(CELL, "soma\n", 0));
    assert_eq!(def["uri"], file.as_str());
    assert_eq!(def["range"], range(pos(CELL, "soma {", 0), pos(CELL, "soma {", 4)));

    // The outline.
    let symbols = client.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": file } }));
    let names: Vec<&str> = symbols.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["hh", "pas", "c"]);

    // Completion of a mechanism after `insert `, and of a parameter in its block.
    let edited = CELL.replace("    insert hh in soma\n", "    insert \n");
    client.change(&file, 2, json!([{ "text": edited }]));
    let items = client.at("textDocument/completion", &file, pos(&edited, "insert \n", 7));
    let labels: Vec<&str> = items.as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert!(labels.contains(&"hh") && labels.contains(&"pas"), "{labels:?}");
    let items = client.at("textDocument/completion", &file, pos(&edited, "g = 1e-4", 0));
    let labels: Vec<&str> = items.as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["g", "e"]);
    client.shutdown();
}

/// Go to definition on each part of `cells[0].noise_syn.g` in the third tutorial: the
/// population, the synapse in the cell, and `g` of `expsyn` in the written-out standard library.
#[test]
fn definition_follows_each_part_of_a_probe_path() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tutorial/03_custom_channel.syl"),
    )
    .expect("the tutorial");
    let dir = scratch("probe_path");
    let file = uri(&dir.join("03_custom_channel.syl"));
    let mut client = Client::start();
    client.open(&file, &text);
    client.diagnostics(&file, Some(1));
    let probe = "cells[0].noise_syn.g ";
    let def = client.at("textDocument/definition", &file, pos(&text, probe, 1));
    assert_eq!(def["uri"], file.as_str());
    assert_eq!(def["range"], range(pos(&text, "cells = bursty", 0), pos(&text, "cells = bursty", 5)));
    let def = client.at("textDocument/definition", &file, pos(&text, "noise_syn.g", 2));
    assert_eq!(def["uri"], file.as_str());
    assert_eq!(def["range"], range(pos(&text, "noise_syn = expsyn", 0), pos(&text, "noise_syn = expsyn", 9)));
    let def = client.at("textDocument/definition", &file, pos(&text, "noise_syn.g", 10));
    let target = def["uri"].as_str().expect("a location");
    assert!(target.ends_with("/expsyn.syl"), "{def}");
    let std_text = std::fs::read_to_string(target.trim_start_matches("file://")).expect("the std file exists");
    let g_line =
        std_text.lines().position(|l| l.trim_start().starts_with("let g ") || l.contains("state g")).expect("g");
    assert_eq!(def["range"]["start"]["line"], g_line, "{def}");
    client.shutdown();
}

#[test]
fn importers_are_rechecked_when_an_import_changes() {
    let dir = scratch("imports");
    let lib = dir.join("lib.syl");
    std::fs::write(&lib, LEAK.replace("ee)", "e)")).expect("write");
    let main = dir.join("main.syl");
    let main_text = "import \"lib.syl\"\n\ncell c {\n    morphology { section soma { length = 10 um, diam = 10 um } }\n    insert leak in soma\n}\n";
    let (lib_uri, main_uri) = (uri(&lib), uri(&main));
    let mut client = Client::start();
    client.open(&main_uri, main_text);
    assert_eq!(client.diagnostics(&main_uri, Some(1)), Vec::<Value>::new());

    // The library, opened and renamed in the editor: `leak` no longer exists for main.
    let lib_text = std::fs::read_to_string(&lib).unwrap();
    client.open(&lib_uri, &lib_text);
    client.diagnostics(&lib_uri, Some(1));
    // Opening it re-checks main (which now reads the editor's text): nothing changed.
    assert_eq!(client.diagnostics(&main_uri, Some(1)), Vec::<Value>::new());
    client.change(
        &lib_uri,
        2,
        json!([{ "range": range(pos(&lib_text, "leak {", 0), pos(&lib_text, "leak {", 4)), "text": "drain" }]),
    );
    let diags = client.diagnostics(&main_uri, Some(1));
    assert!(diags.iter().any(|d| d["message"].as_str().unwrap().contains("leak")), "{diags:?}");

    // Closed again: main reads the file on disk. Then the disk changes: an error in lib is
    // reported at main's import.
    client.notify("textDocument/didClose", json!({ "textDocument": { "uri": lib_uri } }));
    assert_eq!(client.diagnostics(&main_uri, Some(1)), Vec::<Value>::new());
    std::fs::write(&lib, LEAK).expect("write");
    client.notify("workspace/didChangeWatchedFiles", json!({ "changes": [{ "uri": lib_uri, "type": 2 }] }));
    let diags = client.diagnostics(&main_uri, Some(1));
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["code"], "E0201");
    assert!(diags[0]["message"].as_str().unwrap().starts_with("`lib.syl` has 1 problem"), "{diags:?}");
    assert_eq!(diags[0]["range"]["start"], json!({ "line": 0, "character": 0 }));
    client.shutdown();
}

/// An NMODL file with an unbalanced parenthesis in its BREAKPOINT.
const BROKEN_MOD: &str = "NEURON {
    SUFFIX leakmod
    NONSPECIFIC_CURRENT i
    RANGE g, e
}
UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
}
PARAMETER {
    g = 0.001 (S/cm2)
    e = -70 (mV)
}
ASSIGNED { v (mV) i (mA/cm2) }
BREAKPOINT {
    i = g*((v - e)
}
";

#[test]
fn an_open_mod_file_gets_its_translation_diagnostics() {
    let dir = scratch("nmodl");
    let file = dir.join("leakmod.mod");
    let mod_uri = uri(&file);
    let mut client = Client::start();
    client.open(&mod_uri, BROKEN_MOD);
    let diags = client.diagnostics(&mod_uri, Some(1));
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["code"], "E0801");
    assert_eq!(diags[0]["range"]["start"]["line"], 16, "{diags:?}");

    // Fixed: clean, the translation included.
    let fixed = BROKEN_MOD.replace("g*((v - e)", "g*(v - e)");
    client.change(&mod_uri, 2, json!([{ "text": fixed.clone() }]));
    assert_eq!(client.diagnostics(&mod_uri, Some(2)), Vec::<Value>::new());
    // Hover and completion know Sylva, not NMODL: nothing, rather than Sylva's names.
    assert_eq!(client.at("textDocument/hover", &mod_uri, pos(&fixed, "g*(v", 0)), Value::Null);
    assert_eq!(client.at("textDocument/completion", &mod_uri, pos(&fixed, "g*(v", 1)), Value::Null);

    // A model importing it: clean; the broken file's error is reported at the import.
    std::fs::write(&file, BROKEN_MOD).expect("write");
    client.notify("textDocument/didClose", json!({ "textDocument": { "uri": mod_uri } }));
    let main_uri = uri(&dir.join("main.syl"));
    let main_text = "import \"leakmod.mod\"\n\ncell c {\n    morphology { section soma { length = 10 um, diam = 10 um } }\n    insert leakmod in soma\n}\n";
    client.open(&main_uri, main_text);
    let diags = client.diagnostics(&main_uri, Some(1));
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["code"], "E0801");
    assert!(diags[0]["message"].as_str().unwrap().starts_with("`leakmod.mod` has 1 problem"), "{diags:?}");
    assert_eq!(diags[0]["range"]["start"], json!({ "line": 0, "character": 0 }));
    assert_eq!(diags[0]["relatedInformation"][0]["location"]["uri"], mod_uri.as_str());
    client.shutdown();
}

#[test]
fn a_message_that_is_not_json_rpc_is_logged_and_skipped() {
    let mut client = Client::start();
    client.send_raw(b"Content-Length: 9\r\n\r\n{not json");
    let hover = client.request_raw(
        "textDocument/hover",
        json!({ "textDocument": { "uri": "untitled:1" }, "position": { "line": 0, "character": 0 } }),
    );
    assert_eq!(hover["result"], Value::Null, "the server still answers: {hover}");
    let log = client.shutdown();
    assert!(log.contains("skipped a message that is not JSON-RPC") && log.contains("{not json"), "{log}");
}

/// The server's limit on the length of a message.
const MAX_MESSAGE: usize = 64 << 20;

#[test]
fn a_message_too_long_to_read_is_logged_and_skipped() {
    let mut client = Client::start();
    let length = MAX_MESSAGE + 1;
    client.send_raw(format!("Content-Length: {length}\r\n\r\n").as_bytes());
    client.send_raw(&vec![b' '; length]);
    let hover = client.request_raw(
        "textDocument/hover",
        json!({ "textDocument": { "uri": "untitled:1" }, "position": { "line": 0, "character": 0 } }),
    );
    assert_eq!(hover["result"], Value::Null, "the server still answers: {hover}");
    let log = client.shutdown();
    assert!(log.contains(&format!("skipped a message of {length} bytes")), "{log}");
}

#[test]
fn input_that_ends_inside_a_huge_message_is_an_error() {
    let mut client = Client::start();
    client.send_raw(b"Content-Length: 1000000000000\r\n\r\n{}");
    client.close_input();
    let (status, log) = client.wait();
    assert_eq!(status.code(), Some(2), "sylva lsp exited with {status}; its stderr:\n{log}");
    assert!(log.contains("the input ended inside a message of 1000000000000 bytes"), "{log}");
}

/// xorshift64*: the same edits on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Sends `version` of `file`, made by replacing `replaced` in `text` with `insert`, and makes
/// the same edit to `text`.
fn edit(client: &mut Client, file: &str, text: &mut String, version: i64, replaced: Range<usize>, insert: &str) {
    let edited = range(position_of(text, replaced.start), position_of(text, replaced.end));
    client.change(file, version, json!([{ "range": edited, "text": insert }]));
    text.replace_range(replaced, insert);
}

/// The byte ranges of the number literals in `text`, roughly: runs of digits, letters, dots
/// and exponent signs that start with a digit not inside a word.
fn number_literals(text: &str) -> Vec<Range<usize>> {
    let b = text.as_bytes();
    let in_word = |i: usize| i > 0 && (b[i - 1].is_ascii_alphanumeric() || b"_.".contains(&b[i - 1]));
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || in_word(i) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len()
            && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || (b"+-".contains(&b[i]) && b"eE".contains(&b[i - 1])))
        {
            i += 1;
        }
        out.push(start..i);
    }
    out
}

/// The LSP position of a byte offset.
fn position_of(text: &str, offset: usize) -> (u32, u32) {
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    (text[..offset].matches('\n').count() as u32, text[line_start..offset].encode_utf16().count() as u32)
}

#[test]
fn thousands_of_random_edits_never_stop_the_server() {
    const FRAGMENTS: &[&str] = &[
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        "\"",
        "\n",
        " ",
        "=",
        ":",
        ",",
        "'",
        "///",
        "//",
        "/*",
        "*/",
        "µ",
        "𝄞",
        "é",
        "param ",
        "state ",
        "gate m { alpha = ",
        "density d",
        "point p",
        "cell ",
        "network n {",
        "insert hh in ",
        "insert ",
        " in soma",
        "section s at soma(",
        "population p = c[",
        "probe \"x\" = ",
        "import ",
        "import \"nope.syl\"\n",
        "fn f(x: mV) -> mV { x }",
        "0.12 S/cm2",
        "-65 mV",
        "1e400",
        "mV",
        "S/",
        "/cm2",
        "v - ena",
        "exp(",
        "if v < 0 mV { 1 } else { 2 }",
        "{ let a = 1; a }",
        "kinetic {",
        "a <-> b (",
        "on event(w: uS) { g += w }",
        "initial { ",
        "simulation { dt = 0.025 ms }",
    ];
    // Numbers that a number literal is replaced with: ordinary, and out of range both ways.
    const NUMBERS: &[&str] = &["0", "1", "0.5", "2.5e-3", "4294967296", "1e400", "1e-400"];
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository");
    let original = std::fs::read_to_string(repo.join("examples/tutorial/03_custom_channel.syl")).expect("example");
    let dir = scratch("random");
    let file = uri(&dir.join("random.syl"));
    let mut client = Client::start();
    client.open(&file, &original);
    client.diagnostics(&file, Some(1));
    let mut text = original.clone();
    let mut rng = Rng(0x5EED_CAFE_F00D_1234);
    let edits = 3000;
    for i in 0..edits {
        let version = 2 + i * 10;
        // The last version sent.
        let mut sent = version;
        // Damage accumulates, and one stray `"` or `/*` hides the rest of the text from the
        // checker: start again from the example now and then, and when the text grows too long.
        if rng.below(10) == 0 || text.len() > 4 * original.len() {
            client.change(&file, version, json!([{ "text": original }]));
            text = original.clone();
        } else {
            let mut start = rng.below(text.len() + 1);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            match rng.below(10) {
                // Insert a fragment.
                0..=3 => {
                    edit(&mut client, &file, &mut text, version, start..start, FRAGMENTS[rng.below(FRAGMENTS.len())])
                }
                // Replace a number (or insert one, if there is none), so that the checker sees
                // the new one when the text around it parses.
                4..=5 => {
                    let numbers = number_literals(&text);
                    let replaced = numbers.get(rng.below(numbers.len())).cloned().unwrap_or(start..start);
                    edit(&mut client, &file, &mut text, version, replaced, NUMBERS[rng.below(NUMBERS.len())]);
                }
                // Delete up to 20 bytes.
                6..=8 => {
                    let mut end = (start + rng.below(20)).min(text.len());
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    edit(&mut client, &file, &mut text, version, start..end, "");
                }
                // Type a word one character at a time, as a person would.
                _ => {
                    let word = ["gnabar", "celsius", "soma", "insert", "mV"][rng.below(5)];
                    for (k, c) in word.char_indices() {
                        sent = version + k as i64;
                        edit(&mut client, &file, &mut text, sent, start + k..start + k, &c.to_string());
                    }
                }
            }
        }
        // The server compiles once no edit is waiting, which depends on timing; waiting for the
        // diagnostics of every tenth edit makes it compile those texts on every run.
        if i % 10 == 0 {
            client.diagnostics(&file, Some(sent));
        }
        if i % 200 == 0 {
            let mut offset = rng.below(text.len() + 1);
            while !text.is_char_boundary(offset) {
                offset -= 1;
            }
            let at = position_of(&text, offset);
            for method in ["textDocument/hover", "textDocument/completion", "textDocument/definition"] {
                let response = client.request_raw(
                    method,
                    json!({ "textDocument": { "uri": file }, "position": { "line": at.0, "character": at.1 } }),
                );
                assert!(response.get("error").is_none(), "{method} after {i} edits: {response}");
            }
            let response =
                client.request_raw("textDocument/documentSymbol", json!({ "textDocument": { "uri": file } }));
            assert!(response.get("error").is_none(), "symbols after {i} edits: {response}");
        }
    }
    // Still answering, and its text is ours: a second document opened with our copy gets the
    // same diagnostics as the edited one.
    let hover = client.request_raw(
        "textDocument/hover",
        json!({ "textDocument": { "uri": file }, "position": { "line": 0, "character": 3 } }),
    );
    assert!(hover.get("error").is_none(), "{hover}");
    let last_version = client
        .pending
        .iter()
        .rev()
        .find(|m| m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == file.as_str())
        .map(|m| m["params"]["version"].clone());
    let edited = match last_version {
        Some(v) => client.diagnostics(&file, v.as_i64()),
        None => client.diagnostics(&file, None),
    };
    let copy = uri(&dir.join("copy.syl"));
    client.open(&copy, &text);
    let fresh = client.diagnostics(&copy, Some(1));
    let summary = |ds: &[Value]| -> Vec<(Value, Value, Value)> {
        ds.iter().map(|d| (d["code"].clone(), d["range"].clone(), d["message"].clone())).collect()
    };
    assert_eq!(summary(&edited), summary(&fresh), "the server's text differs from the client's");
    client.shutdown();
}

/// A model of `lines` lines or more: copies of a Hodgkin–Huxley-like channel.
fn big_model(lines: usize) -> String {
    let mut out = String::from("import hh\n\n");
    let mut i = 0;
    while out.lines().count() < lines {
        out.push_str(&format!(
            "/// Copy {i} of a sodium-potassium channel.
density chan{i} {{
    ion na {{ read ena, write ina }}
    ion k {{ read ek, write ik }}
    current il
    /// Peak sodium conductance density.
    param gnabar: S/cm2 = 0.12 in [0, inf]
    /// Peak potassium conductance density.
    param gkbar: S/cm2 = 0.036 in [0, inf]
    param gl: S/cm2 = 0.0003 in [0, inf]
    param el: mV = -54.3
    let q10 = 3 ^ ((celsius - 6.3 degC) / 10 K)
    gate m {{
        alpha = 0.1/(ms*mV) * vtrap(-(v + 40 mV), 10 mV)
        beta = 4/ms * exp(-(v + 65 mV) / 18 mV)
        q10 = q10
    }}
    gate h {{
        alpha = 0.07/ms * exp(-(v + 65 mV) / 20 mV)
        beta = 1/ms / (exp(-(v + 35 mV) / 10 mV) + 1)
        q10 = q10
    }}
    gate n {{
        alpha = 0.01/(ms*mV) * vtrap(-(v + 55 mV), 10 mV)
        beta = 0.125/ms * exp(-(v + 65 mV) / 80 mV)
        q10 = q10
    }}
    let gna = gnabar * m * m * m * h
    let gk = gkbar * n * n * n * n
    ina = gna * (v - ena)
    ik = gk * (v - ek)
    il = gl * (v - el)
}}

cell cell{i} {{
    morphology {{
        section soma {{ length = 20 um, diam = 20 um, nseg = 1 }}
        section dend at soma(1) {{ length = 200 um, diam = 1 um, nseg = 11 }}
    }}
    insert chan{i} in soma
    insert hh in dend {{ gnabar = 0.01 S/cm2 }}
}}

"
        ));
        i += 1;
    }
    out
}

/// From `didChange` to `publishDiagnostics` on a model of 2,000 lines: printed, and bounded
/// loosely (debug builds on a shared machine are slow; see docs/editors.md for the figures).
#[test]
fn latency_of_diagnostics_on_a_2000_line_model() {
    let text = big_model(2000);
    let dir = scratch("latency");
    let file = uri(&dir.join("big.syl"));
    let mut client = Client::start();
    client.open(&file, &text);
    let diags = client.diagnostics(&file, Some(1));
    assert!(diags.iter().all(|d| d["severity"] != 1), "the model is valid: {diags:?}");
    let at = pos(&text, "0.12 in", 0);
    let mut times = Vec::new();
    for version in 2..22 {
        // Alternate 0.12 and 0.13.
        let digit = if version % 2 == 0 { "3" } else { "2" };
        let started = Instant::now();
        client.change(&file, version, json!([{ "range": range((at.0, at.1 + 3), (at.0, at.1 + 4)), "text": digit }]));
        client.diagnostics(&file, Some(version));
        times.push(started.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    let max = times[times.len() - 1];
    println!(
        "latency on {} lines ({} build): median {:.1} ms, max {:.1} ms",
        text.lines().count(),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        median.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    assert!(median < Duration::from_secs(5), "median {median:?}");
    client.shutdown();
}
