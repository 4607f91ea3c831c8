//! The language server's transport: JSON-RPC messages framed with `Content-Length` headers,
//! read from stdin by a thread into a queue and written to stdout by another.

use std::io::{self, BufRead, Read};
use std::thread::JoinHandle;

use lsp_server::{Connection, Message};
use lsp_types::notification::{self as notif, Notification as _};

/// The longest message read (a document's whole text is the longest a client sends); longer
/// ones are skipped without being held in memory.
const MAX_MESSAGE: usize = 64 << 20;

/// The threads that read the client's messages from stdin and write the server's to stdout.
pub(super) struct Stdio {
    pub(super) reader: JoinHandle<io::Result<()>>,
    pub(super) writer: JoinHandle<io::Result<()>>,
}

/// A connection over stdin and stdout. Unlike `Connection::stdio`, whose channels hold no
/// message (and so always look empty), the reader queues what it reads, so that
/// `receiver.is_empty()` says whether more is waiting and a burst of edits costs one
/// compilation.
pub(super) fn stdio() -> (Connection, Stdio) {
    // Two unbounded channels; the threads hold the other end.
    let (server, Connection { sender, receiver }) = Connection::memory();
    let reader = std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        // A message that is not JSON-RPC, or too long, is logged and skipped: its length says
        // where the next one starts. After broken framing nothing does: the reader stops with
        // the error, which `serve` returns (exit code 2).
        while let Some(frame) = read_frame(&mut stdin)? {
            let message = match frame {
                Frame::Body(body) => match serde_json::from_slice::<Message>(&body) {
                    Ok(message) => message,
                    Err(e) => {
                        let start = String::from_utf8_lossy(&body[..body.len().min(100)]);
                        eprintln!("sylva lsp: skipped a message that is not JSON-RPC ({e}): {start:?}");
                        continue;
                    }
                },
                Frame::TooLong(length) => {
                    eprintln!("sylva lsp: skipped a message of {length} bytes, longer than {MAX_MESSAGE}");
                    continue;
                }
            };
            let exit = matches!(&message, Message::Notification(n) if n.method == notif::Exit::METHOD);
            if sender.send(message).is_err() || exit {
                break;
            }
        }
        Ok(())
    });
    let writer = std::thread::spawn(move || {
        let mut stdout = io::stdout().lock();
        receiver.into_iter().try_for_each(|message| message.write(&mut stdout))
    });
    (server, Stdio { reader, writer })
}

/// A message as framed on the wire.
enum Frame {
    Body(Vec<u8>),
    /// A body longer than `MAX_MESSAGE`, of this length, read and dropped.
    TooLong(usize),
}

/// Reads the next frame: headers, of which `Content-Length` counts, a blank line, and a body
/// of that many bytes. `None` at the end of the input.
fn read_frame(input: &mut impl BufRead) -> io::Result<Option<Frame>> {
    let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidData, message);
    let mut length = None;
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return match length {
                None => Ok(None),
                Some(_) => Err(invalid("the input ended inside a message's headers".to_string())),
            };
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("Content-Length")
        {
            let value = value.trim();
            length = Some(value.parse::<usize>().map_err(|e| invalid(format!("Content-Length `{value}`: {e}")))?);
        }
    }
    let length = length.ok_or_else(|| invalid("a message without Content-Length".to_string()))?;
    let ended = || invalid(format!("the input ended inside a message of {length} bytes"));
    if length > MAX_MESSAGE {
        let skipped = io::copy(&mut input.take(length as u64), &mut io::sink())?;
        return if skipped == length as u64 { Ok(Some(Frame::TooLong(length))) } else { Err(ended()) };
    }
    let mut body = vec![0; length];
    input.read_exact(&mut body).map_err(|e| if e.kind() == io::ErrorKind::UnexpectedEof { ended() } else { e })?;
    Ok(Some(Frame::Body(body)))
}
