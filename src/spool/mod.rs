//! The spool directory, for drop-in compatibility with smstools3: the pure
//! outgoing-file parser ([`format`](mod@format)), the inotify watcher that claims files
//! from `<dir>/outgoing/` ([`watch`]), and pure writers of smstools3-format
//! sent/failed/received/report files ([`smstools`]).
//!
//! Never touches the store: the daemon does `claim → read → store.enqueue
//! (spool_key = key) → done`, or `fail` with the parse error. See
//! docs/SPOOL.md.

pub mod format;
pub mod smstools;
pub mod watch;

use std::path::PathBuf;

pub use format::{parse, Alphabet, NumberType, Priority, SpoolMessage};
pub use watch::{Claimed, Spool};

/// Everything that can go wrong with a spool file or the spool directory.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("empty file")]
    Empty,
    #[error("file too large: {size} bytes, at most {max} accepted")]
    TooLarge { size: u64, max: u64 },
    #[error("no blank line between the headers and the message text")]
    NoBlankLine,
    #[error("line {line} is not a `Name: value` header (headers end at the first blank line)")]
    BadHeaderLine { line: usize },
    #[error("no To: header")]
    MissingTo,
    #[error("bad number {value:?}: bad character {ch:?} at offset {offset}")]
    BadNumber {
        value: String,
        ch: char,
        offset: usize,
    },
    #[error("number {value:?} has no digits")]
    EmptyNumber { value: String },
    #[error("bad {header}: {value:?}: {reason}")]
    BadHeader {
        header: String,
        value: String,
        reason: String,
    },
    #[error("header {header} is not supported")]
    Unsupported { header: String },
    #[error("NUL byte at offset {offset}: binary content needs `Alphabet: binary`")]
    Nul { offset: usize },
    #[error("empty message body")]
    EmptyBody,
    #[error("bad body: {reason}")]
    BadBody { reason: String },
    #[error("{kind} is not a regular file")]
    NotRegular { kind: &'static str },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl SpoolError {
    fn io(path: &std::path::Path, source: std::io::Error) -> SpoolError {
        SpoolError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
