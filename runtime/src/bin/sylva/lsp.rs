//! `sylva lsp`: the language server, over stdio.
//!
//! The compiler does the work ([`sylva_compiler::compile`] and [`sylva_compiler::ide`]); this
//! file keeps the open documents, reads everything else from disk through the compiler's
//! [`Loader`], converts byte offsets to LSP positions (UTF-16 code units) and back, and
//! publishes diagnostics.
//!
//! Every open document is compiled as a root, with open documents taking the place of their
//! files on disk. An edit marks the document and every open document whose compilation read
//! it as stale; stale documents are recompiled, and their diagnostics published, once no
//! message is waiting (so a burst of keystrokes costs one compilation) or before a request
//! about them is answered. Standard-library files are written once to a directory of their
//! own so that "go to definition" has a file to open.
//!
//! A panic while handling a message or compiling a document does not stop the server: it is
//! caught, logged to stderr and counted, and the count is the answer to the custom request
//! `sylva/internalErrors` (`{ "panics": N }`), so that tests can see panics the editor never
//! shows.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{self as notif, Notification as _};
use lsp_types::request::{self as req, Request as _};
use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionOptions, CompletionParams, CompletionResponse, Diagnostic,
    DiagnosticRelatedInformation, DiagnosticSeverity, DidChangeTextDocumentParams, DidChangeWatchedFilesParams,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, DidSaveTextDocumentParams, DocumentSymbol,
    DocumentSymbolParams, DocumentSymbolResponse, GotoDefinitionParams, GotoDefinitionResponse, Hover, HoverContents,
    HoverParams, HoverProviderCapability, InitializeParams, Location, MarkupContent, MarkupKind, NumberOrString, OneOf,
    Position, PublishDiagnosticsParams, Range, SaveOptions, ServerCapabilities, TextDocumentSyncCapability,
    TextDocumentSyncKind, TextDocumentSyncOptions, TextDocumentSyncSaveOptions, Uri,
};
use sylva_compiler::diagnostics::{self as sd, Code, Severity};
use sylva_compiler::ide;
use sylva_compiler::source::{FileId, SourceDb, Span};
use sylva_compiler::{Compilation, Loader, compile, stdlib};

use crate::Failure;

mod transport;
use transport::stdio;

/// The custom request that answers how many panics the server has caught.
const INTERNAL_ERRORS: &str = "sylva/internalErrors";

/// Runs the server until the client says `exit` (or closes stdin).
pub fn serve() -> Result<(), Failure> {
    let (connection, stdio) = stdio();
    let capabilities = ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
            open_close: Some(true),
            change: Some(TextDocumentSyncKind::INCREMENTAL),
            save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions { include_text: Some(false) })),
            ..TextDocumentSyncOptions::default()
        })),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![":".to_string(), "/".to_string()]),
            ..CompletionOptions::default()
        }),
        ..ServerCapabilities::default()
    };
    let init = serde_json::json!({
        "capabilities": capabilities,
        "serverInfo": { "name": "sylva", "version": env!("CARGO_PKG_VERSION") },
    });
    let (id, params) = connection.initialize_start().map_err(|e| Failure::Usage(format!("lsp: {e}")))?;
    connection.initialize_finish(id, init).map_err(|e| Failure::Usage(format!("lsp: {e}")))?;
    let params: InitializeParams = serde_json::from_value(params).unwrap_or_default();
    let mut server = Server::new(&connection);
    server.watch_files(&params);
    let exited = server.run();
    drop(connection);
    // What was sent is written out before the process ends.
    let _ = stdio.writer.join();
    if exited {
        return Ok(());
    }
    // The input ended, or held a message the reader could not read: either way it has stopped.
    match stdio.reader.join() {
        Ok(result) => result.map_err(|e| Failure::Usage(format!("lsp: cannot read a message: {e}"))),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// An open document.
struct Document {
    uri: Uri,
    version: i32,
    text: String,
}

/// The last compilation of an open document.
struct Analysis {
    db: SourceDb,
    compilation: Compilation,
    root: FileId,
    /// The names (paths) of the user files it read, itself included.
    reads: HashSet<String>,
}

struct Server<'c> {
    connection: &'c Connection,
    /// Open documents by name (an absolute path, `std/<module>.syl`, or a non-file URI).
    documents: HashMap<String, Document>,
    analyses: HashMap<String, Analysis>,
    stale: HashSet<String>,
    std_dir: Option<PathBuf>,
    next_request: i32,
    /// Panics caught since the start.
    panics: u64,
}

/// Reads open documents from memory and everything else from disk.
struct DocumentLoader<'a> {
    documents: &'a HashMap<String, Document>,
}

impl Loader for DocumentLoader<'_> {
    fn read(&mut self, path: &str) -> Result<String, String> {
        if let Some(doc) = self.documents.get(path) {
            return Ok(doc.text.clone());
        }
        crate::read_source(path)
    }
}

impl<'c> Server<'c> {
    fn new(connection: &'c Connection) -> Server<'c> {
        Server {
            connection,
            documents: HashMap::new(),
            analyses: HashMap::new(),
            stale: HashSet::new(),
            std_dir: write_stdlib(),
            next_request: 0,
            panics: 0,
        }
    }

    /// Asks the client to report changes to model and SWC files on disk, when it can.
    fn watch_files(&mut self, params: &InitializeParams) {
        let dynamic = params
            .capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.did_change_watched_files.as_ref())
            .and_then(|d| d.dynamic_registration)
            .unwrap_or(false);
        if !dynamic {
            return;
        }
        self.next_request += 1;
        let registration = serde_json::json!({
            "registrations": [{
                "id": "sylva-watch",
                "method": notif::DidChangeWatchedFiles::METHOD,
                "registerOptions": { "watchers": [{ "globPattern": "**/*.syl" }, { "globPattern": "**/*.swc" }, { "globPattern": "**/*.mod" }] },
            }]
        });
        let request = Request::new(
            RequestId::from(format!("sylva-{}", self.next_request)),
            req::RegisterCapability::METHOD.to_string(),
            registration,
        );
        self.send(request.into());
    }

    fn send(&self, message: Message) {
        let _ = self.connection.sender.send(message);
    }

    /// Handles messages until the client says `exit` (true) or the input ends (false).
    fn run(&mut self) -> bool {
        loop {
            let Ok(message) = self.connection.receiver.recv() else { return false };
            match message {
                Message::Request(request) => {
                    match self.connection.handle_shutdown(&request) {
                        Ok(false) => {}
                        // Shut down, and `exit` came or did not come in time.
                        Ok(true) | Err(_) => return true,
                    }
                    self.flush();
                    let id = request.id.clone();
                    let what = describe(&request.method, &request.params);
                    let response = self.guard(&what, |s| s.request(request)).unwrap_or_else(|panic| {
                        Response::new_err(
                            id,
                            ErrorCode::InternalError as i32,
                            format!("internal error in the Sylva language server: {panic}"),
                        )
                    });
                    self.send(response.into());
                }
                Message::Notification(notification) => {
                    if notification.method == notif::Exit::METHOD {
                        return true;
                    }
                    let what = describe(&notification.method, &notification.params);
                    let _ = self.guard(&what, |s| s.notification(notification));
                }
                Message::Response(_) => {}
            }
            if self.connection.receiver.is_empty() {
                self.flush();
            }
        }
    }

    /// Runs `f`, catching a panic: it is counted and logged with `what` the server was doing,
    /// and its message returned.
    fn guard<T>(&mut self, what: &str, f: impl FnOnce(&mut Self) -> T) -> Result<T, String> {
        catch_unwind(AssertUnwindSafe(|| f(self))).map_err(|payload| {
            self.panics += 1;
            let message = panic_message(payload.as_ref());
            eprintln!("sylva lsp: internal error (panic) while {what}: {message}; the server goes on");
            message
        })
    }

    // ---- Documents ------------------------------------------------------------------------

    fn notification(&mut self, n: Notification) {
        match n.method.as_str() {
            notif::DidOpenTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidOpenTextDocumentParams>(n.params) else { return };
                let name = self.name_of(&p.text_document.uri);
                let doc =
                    Document { uri: p.text_document.uri, version: p.text_document.version, text: p.text_document.text };
                self.documents.insert(name.clone(), doc);
                self.changed(&name);
            }
            notif::DidChangeTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidChangeTextDocumentParams>(n.params) else { return };
                let name = self.name_of(&p.text_document.uri);
                let Some(doc) = self.documents.get_mut(&name) else { return };
                doc.version = p.text_document.version;
                for change in p.content_changes {
                    match change.range {
                        Some(range) => {
                            let start = offset_of(&doc.text, range.start);
                            let end = offset_of(&doc.text, range.end).max(start);
                            doc.text.replace_range(start..end, &change.text);
                        }
                        None => doc.text = change.text,
                    }
                }
                self.changed(&name);
            }
            notif::DidCloseTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidCloseTextDocumentParams>(n.params) else { return };
                let name = self.name_of(&p.text_document.uri);
                self.documents.remove(&name);
                self.analyses.remove(&name);
                self.stale.remove(&name);
                self.publish(p.text_document.uri, Vec::new(), None);
                // Documents that imported it now read it from disk.
                self.changed(&name);
            }
            notif::DidSaveTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidSaveTextDocumentParams>(n.params) else { return };
                let name = self.name_of(&p.text_document.uri);
                self.changed(&name);
            }
            notif::DidChangeWatchedFiles::METHOD => {
                let Ok(p) = serde_json::from_value::<DidChangeWatchedFilesParams>(n.params) else { return };
                for change in p.changes {
                    let name = self.name_of(&change.uri);
                    // An open document's text is the editor's, not the disk's.
                    if !self.documents.contains_key(&name) {
                        self.changed(&name);
                    }
                }
            }
            _ => {}
        }
    }

    /// Marks `name` and every open document that read it as stale.
    fn changed(&mut self, name: &str) {
        if self.documents.contains_key(name) {
            self.stale.insert(name.to_string());
        }
        for (root, analysis) in &self.analyses {
            if analysis.reads.contains(name) {
                self.stale.insert(root.clone());
            }
        }
    }

    /// Recompiles the stale documents and publishes their diagnostics.
    fn flush(&mut self) {
        let mut stale: Vec<String> = self.stale.drain().collect();
        stale.sort();
        for name in stale {
            let Some(doc) = self.documents.get(&name) else { continue };
            let (uri, version) = (doc.uri.clone(), doc.version);
            let analysis = match self.guard(&format!("compiling `{name}`"), |s| analyse(&s.documents, &name)) {
                Ok(analysis) => analysis,
                Err(panic) => {
                    let d = Diagnostic {
                        severity: Some(DiagnosticSeverity::ERROR),
                        code: Some(NumberOrString::String(Code::InternalError.as_str().to_string())),
                        source: Some("sylva".to_string()),
                        message: format!(
                            "internal compiler error: the compiler panicked on this file ({panic}); this is a bug in Sylva"
                        ),
                        ..Diagnostic::default()
                    };
                    self.publish(uri, vec![d], Some(version));
                    continue;
                }
            };
            let diagnostics = if stdlib::is_std_file(&name) { Vec::new() } else { self.diagnostics(&analysis) };
            self.analyses.insert(name, analysis);
            self.publish(uri, diagnostics, Some(version));
        }
    }

    fn publish(&self, uri: Uri, diagnostics: Vec<Diagnostic>, version: Option<i32>) {
        let params = PublishDiagnosticsParams { uri, diagnostics, version };
        self.send(Notification::new(notif::PublishDiagnostics::METHOD.to_string(), params).into());
    }

    /// The diagnostics of a compilation for its root: its own, and one at the import of each
    /// imported user file that has problems.
    fn diagnostics(&self, a: &Analysis) -> Vec<Diagnostic> {
        let root_text = &a.db.get(a.root).text;
        let mut out = Vec::new();
        let mut elsewhere: Vec<(FileId, Vec<&sd::Diagnostic>)> = Vec::new();
        for d in &a.compilation.diagnostics {
            let file = d.primary.span.file;
            if file == a.root {
                out.push(self.convert(&a.db, root_text, d));
            } else if !stdlib::is_std_file(&a.db.get(file).name) {
                match elsewhere.iter_mut().find(|(f, _)| *f == file) {
                    Some((_, list)) => list.push(d),
                    None => elsewhere.push((file, vec![d])),
                }
            }
        }
        for (file, list) in elsewhere {
            let source = a.db.get(file);
            let import = import_span(a, &source.name).unwrap_or(Span { file: a.root, start: 0, end: 0 });
            let first = list[0];
            let (line, col) = source.line_col(first.primary.span.start as usize);
            let errors = list.iter().filter(|d| d.is_error()).count();
            let message = format!(
                "`{}` has {} problem{} ({errors} error{}); the first, at {line}:{col}: {}",
                short_name(&source.name),
                list.len(),
                if list.len() == 1 { "" } else { "s" },
                if errors == 1 { "" } else { "s" },
                first.message
            );
            out.push(Diagnostic {
                range: range_of(root_text, import),
                severity: Some(if errors > 0 { DiagnosticSeverity::ERROR } else { DiagnosticSeverity::WARNING }),
                code: Some(NumberOrString::String(first.code.as_str().to_string())),
                source: Some("sylva".to_string()),
                message,
                related_information: self.uri_of(&source.name).map(|uri| {
                    vec![DiagnosticRelatedInformation {
                        location: Location { uri, range: range_of(&source.text, first.primary.span) },
                        message: first.message.clone(),
                    }]
                }),
                ..Diagnostic::default()
            });
        }
        out
    }

    /// One compiler diagnostic as LSP's: the same code and message; notes and help on lines
    /// after it; secondary labels as related information.
    fn convert(&self, db: &SourceDb, text: &str, d: &sd::Diagnostic) -> Diagnostic {
        let mut message = d.message.clone();
        if !d.primary.message.is_empty() {
            message.push_str(&format!("\n{}", d.primary.message));
        }
        for note in &d.notes {
            message.push_str(&format!("\nnote: {note}"));
        }
        if let Some(help) = &d.help {
            message.push_str(&format!("\nhelp: {help}"));
        }
        let related: Vec<DiagnosticRelatedInformation> = d
            .secondary
            .iter()
            .filter_map(|label| {
                let source = db.get(label.span.file);
                Some(DiagnosticRelatedInformation {
                    location: Location { uri: self.uri_of(&source.name)?, range: range_of(&source.text, label.span) },
                    message: label.message.clone(),
                })
            })
            .collect();
        Diagnostic {
            range: range_of(text, d.primary.span),
            severity: Some(match d.severity {
                Severity::Error => DiagnosticSeverity::ERROR,
                Severity::Warning => DiagnosticSeverity::WARNING,
            }),
            code: Some(NumberOrString::String(d.code.as_str().to_string())),
            source: Some("sylva".to_string()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            ..Diagnostic::default()
        }
    }

    // ---- Requests -------------------------------------------------------------------------

    fn request(&mut self, r: Request) -> Response {
        let id = r.id.clone();
        let result = match r.method.as_str() {
            req::HoverRequest::METHOD => self.parse(r).map(|p: HoverParams| {
                let at = p.text_document_position_params;
                serde_json::to_value(self.hover(&at.text_document.uri, at.position)).unwrap_or_default()
            }),
            req::GotoDefinition::METHOD => self.parse(r).map(|p: GotoDefinitionParams| {
                let at = p.text_document_position_params;
                serde_json::to_value(self.definition(&at.text_document.uri, at.position)).unwrap_or_default()
            }),
            req::DocumentSymbolRequest::METHOD => self.parse(r).map(|p: DocumentSymbolParams| {
                serde_json::to_value(self.symbols(&p.text_document.uri)).unwrap_or_default()
            }),
            req::Completion::METHOD => self.parse(r).map(|p: CompletionParams| {
                let at = p.text_document_position;
                serde_json::to_value(self.completion(&at.text_document.uri, at.position)).unwrap_or_default()
            }),
            INTERNAL_ERRORS => Ok(serde_json::json!({ "panics": self.panics })),
            _ => Err((ErrorCode::MethodNotFound, format!("unsupported request `{}`", r.method))),
        };
        match result {
            Ok(value) => Response::new_ok(id, value),
            Err((code, message)) => Response::new_err(id, code as i32, message),
        }
    }

    fn parse<P: serde::de::DeserializeOwned>(&self, r: Request) -> Result<P, (ErrorCode, String)> {
        serde_json::from_value(r.params).map_err(|e| (ErrorCode::InvalidParams, e.to_string()))
    }

    /// The analysis of an open document and the byte offset of a position in it.
    /// The analysis of a Sylva document and the offset of `position` in it; `None` for a `.mod`
    /// document, which gets diagnostics only (hover and completion know Sylva, not NMODL).
    fn at(&self, uri: &Uri, position: Position) -> Option<(&Analysis, u32)> {
        let name = self.name_of(uri);
        if sylva_compiler::driver::is_nmodl(&name) {
            return None;
        }
        let analysis = self.analyses.get(&name)?;
        let offset = offset_of(&analysis.db.get(analysis.root).text, position);
        Some((analysis, offset as u32))
    }

    fn hover(&self, uri: &Uri, position: Position) -> Option<Hover> {
        let (a, offset) = self.at(uri, position)?;
        let h = ide::hover(&a.db, &a.compilation, a.root, offset)?;
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value: h.text }),
            range: Some(range_of(&a.db.get(a.root).text, h.span)),
        })
    }

    fn definition(&self, uri: &Uri, position: Position) -> Option<GotoDefinitionResponse> {
        let (a, offset) = self.at(uri, position)?;
        let span = ide::definition(&a.db, &a.compilation, a.root, offset)?;
        let target = a.db.get(span.file);
        let uri = self.uri_of(&target.name)?;
        Some(GotoDefinitionResponse::Scalar(Location { uri, range: range_of(&target.text, span) }))
    }

    fn symbols(&self, uri: &Uri) -> Option<DocumentSymbolResponse> {
        let a = self.analyses.get(&self.name_of(uri))?;
        let parsed = a.compilation.files.iter().find(|(f, _)| *f == a.root).map(|(_, p)| p)?;
        let text = &a.db.get(a.root).text;
        Some(DocumentSymbolResponse::Nested(ide::symbols(parsed).iter().map(|s| document_symbol(text, s)).collect()))
    }

    fn completion(&self, uri: &Uri, position: Position) -> Option<CompletionResponse> {
        let (a, offset) = self.at(uri, position)?;
        let items = ide::completions(&a.db, &a.compilation, a.root, offset)
            .into_iter()
            .map(|c| CompletionItem {
                label: c.label,
                kind: Some(completion_kind(c.kind)),
                detail: (!c.detail.is_empty()).then_some(c.detail),
                ..CompletionItem::default()
            })
            .collect();
        Some(CompletionResponse::Array(items))
    }

    // ---- Names and URIs -------------------------------------------------------------------

    /// The compiler's name of the file of a URI: its absolute path, `std/<module>.syl` for a
    /// file of the written-out standard library, or the URI itself when it is not a file.
    fn name_of(&self, uri: &Uri) -> String {
        let Some(path) = file_path(uri.as_str()) else { return uri.as_str().to_string() };
        if let Some(dir) = &self.std_dir
            && let Ok(rest) = PathBuf::from(&path).strip_prefix(dir)
        {
            let module = rest.to_string_lossy().trim_end_matches(".syl").to_string();
            if stdlib::source(&module).is_some() {
                return stdlib::file_name(&module);
            }
        }
        path
    }

    fn uri_of(&self, name: &str) -> Option<Uri> {
        if let Some(doc) = self.documents.get(name) {
            return Some(doc.uri.clone());
        }
        // The translation of a `.mod` file exists only in memory.
        if sylva_compiler::driver::is_translation(name) {
            return None;
        }
        let path = if stdlib::is_std_file(name) {
            self.std_dir.as_ref()?.join(name.trim_start_matches("std/")).to_string_lossy().into_owned()
        } else if name.starts_with('/') {
            name.to_string()
        } else {
            // A non-file document (`untitled:1`) is its own URI.
            return name.parse().ok();
        };
        file_uri(&path).parse().ok()
    }
}

/// Compiles the open document `name`.
fn analyse(documents: &HashMap<String, Document>, name: &str) -> Analysis {
    let mut db = SourceDb::new();
    let text = documents.get(name).map(|d| d.text.clone()).unwrap_or_default();
    let root = db.add(name, text);
    let compilation = compile(&mut db, root, &mut DocumentLoader { documents }, &[]);
    let reads = (0..db.len() as u32)
        .map(|i| db.get(FileId(i)).name.clone())
        .filter(|n| !stdlib::is_std_file(n) || n == name)
        .collect();
    Analysis { db, compilation, root, reads }
}

/// What handling a message is, for the log: its method, and its document if it names one.
fn describe(method: &str, params: &serde_json::Value) -> String {
    match params.pointer("/textDocument/uri").and_then(|u| u.as_str()) {
        Some(uri) => format!("handling `{method}` for {uri}"),
        None => format!("handling `{method}`"),
    }
}

/// The message of a panic: `panic!` makes a `&str` or a `String`.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// The span of the root's import of the file named `name` (a `.mod` file or its translation),
/// if it imports it directly.
fn import_span(a: &Analysis, name: &str) -> Option<Span> {
    let parsed = a.compilation.files.iter().find(|(f, _)| *f == a.root).map(|(_, p)| p)?;
    parsed.items.iter().find_map(|item| match item {
        sylva_compiler::syntax::ast::Item::Import(i)
            if sylva_compiler::check::import_name(&a.db, i) == name
                || sylva_compiler::check::import_path(&a.db, i) == name =>
        {
            Some(i.span)
        }
        _ => None,
    })
}

fn short_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Writes the standard library to `<temp>/sylva-std-<version>/` (where it differs), so that
/// definitions in it can be opened.
fn write_stdlib() -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("sylva-std-{}", env!("CARGO_PKG_VERSION")));
    std::fs::create_dir_all(&dir).ok()?;
    for module in stdlib::names() {
        let path = dir.join(format!("{module}.syl"));
        let text = stdlib::source(module)?;
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
            std::fs::write(&path, text).ok()?;
        }
    }
    // Canonical, as clients send it back (`/tmp` may be a link).
    Some(dir.canonicalize().unwrap_or(dir))
}

// ---- Positions ----------------------------------------------------------------------------

/// The byte offset of an LSP position (UTF-16 code units within the line), clamped to the
/// line and the text.
fn offset_of(text: &str, position: Position) -> usize {
    let mut line_start = 0;
    for _ in 0..position.line {
        match text[line_start..].find('\n') {
            Some(i) => line_start += i + 1,
            None => return text.len(),
        }
    }
    let line_end = text[line_start..].find('\n').map_or(text.len(), |i| line_start + i);
    let mut units = 0u32;
    for (i, c) in text[line_start..line_end].char_indices() {
        if units >= position.character {
            return line_start + i;
        }
        units += c.len_utf16() as u32;
    }
    line_end
}

/// The LSP position of a byte offset.
fn position_of(text: &str, offset: usize) -> Position {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[..line_start].matches('\n').count() as u32;
    let character = text[line_start..offset].encode_utf16().count() as u32;
    Position { line, character }
}

fn range_of(text: &str, span: Span) -> Range {
    Range { start: position_of(text, span.start as usize), end: position_of(text, span.end as usize) }
}

/// The path of a `file:` URI, percent-decoded.
fn file_path(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("file://")?;
    // `file://host/path`: only local files.
    let path = &rest[rest.find('/')?..];
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(b) = escaped {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The `file:` URI of an absolute path, percent-encoded.
fn file_uri(path: &str) -> String {
    let mut out = String::from("file://");
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---- Conversions --------------------------------------------------------------------------

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be written out.
fn document_symbol(text: &str, s: &ide::Symbol) -> DocumentSymbol {
    use lsp_types::SymbolKind as K;
    let kind = match s.kind {
        ide::SymbolKind::Import => K::MODULE,
        ide::SymbolKind::Param => K::CONSTANT,
        ide::SymbolKind::Function => K::FUNCTION,
        ide::SymbolKind::Mechanism => K::CLASS,
        ide::SymbolKind::State | ide::SymbolKind::Gate => K::FIELD,
        ide::SymbolKind::Let => K::VARIABLE,
        ide::SymbolKind::Current => K::PROPERTY,
        ide::SymbolKind::Species => K::ENUM,
        ide::SymbolKind::Morphology => K::STRUCT,
        ide::SymbolKind::Section | ide::SymbolKind::Region => K::FIELD,
        ide::SymbolKind::Cell => K::STRUCT,
        ide::SymbolKind::Synapse => K::OBJECT,
        ide::SymbolKind::Network => K::NAMESPACE,
        ide::SymbolKind::Population => K::ARRAY,
        ide::SymbolKind::Source | ide::SymbolKind::Stimulus => K::EVENT,
        ide::SymbolKind::Probe => K::KEY,
        ide::SymbolKind::Simulation => K::OBJECT,
    };
    let range = range_of(text, s.span);
    let mut selection_range = range_of(text, s.name_span);
    // The selection must lie within the range.
    if selection_range.start < range.start || selection_range.end > range.end {
        selection_range = range;
    }
    DocumentSymbol {
        name: if s.name.is_empty() { "?".to_string() } else { s.name.clone() },
        detail: s.detail.clone(),
        kind,
        tags: None,
        deprecated: None,
        range,
        selection_range,
        children: (!s.children.is_empty()).then(|| s.children.iter().map(|c| document_symbol(text, c)).collect()),
    }
}

fn completion_kind(kind: ide::CompletionKind) -> CompletionItemKind {
    match kind {
        ide::CompletionKind::Keyword => CompletionItemKind::KEYWORD,
        ide::CompletionKind::Module => CompletionItemKind::MODULE,
        ide::CompletionKind::Mechanism => CompletionItemKind::CLASS,
        ide::CompletionKind::Param => CompletionItemKind::PROPERTY,
        ide::CompletionKind::State => CompletionItemKind::FIELD,
        ide::CompletionKind::Variable => CompletionItemKind::VARIABLE,
        ide::CompletionKind::Function => CompletionItemKind::FUNCTION,
        ide::CompletionKind::Region => CompletionItemKind::ENUM_MEMBER,
        ide::CompletionKind::Unit => CompletionItemKind::UNIT,
        ide::CompletionKind::Cell => CompletionItemKind::STRUCT,
        ide::CompletionKind::Morphology => CompletionItemKind::STRUCT,
        ide::CompletionKind::Constant => CompletionItemKind::CONSTANT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_code_units() {
        let text = "a\nµ𝄞x = 1\n";
        // `µ` is one UTF-16 unit (2 bytes), `𝄞` two (4 bytes).
        assert_eq!(offset_of(text, Position { line: 1, character: 3 }), 2 + 2 + 4);
        assert_eq!(position_of(text, 2 + 2 + 4), Position { line: 1, character: 3 });
        assert_eq!(offset_of(text, Position { line: 9, character: 0 }), text.len());
        assert_eq!(offset_of(text, Position { line: 0, character: 99 }), 1);
    }

    #[test]
    fn file_uris_round_trip() {
        let path = "/home/me/my models/a#b.syl";
        assert_eq!(file_path(&file_uri(path)).as_deref(), Some(path));
        assert_eq!(file_path("file:///tmp/x.syl").as_deref(), Some("/tmp/x.syl"));
        assert_eq!(file_path("untitled:1"), None);
    }
}
