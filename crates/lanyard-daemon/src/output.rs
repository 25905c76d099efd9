//! CLI output the way SPIRE prints it.
//!
//! `-output pretty` (the default) prints blocks of aligned `Key : value` lines, one block
//! per record, usually after a `Found N entries` line. `-output json` prints the API
//! response as protobuf JSON with SPIRE's options: proto field names (`spiffe_id`, not
//! `spiffeId`), unset fields included, one compact line. Failures are one line on stderr,
//! `Error: ...`, and a non-zero exit status.

use std::fmt::{self, Write as _};

use base64::Engine as _;
use serde_json::Value;

/// The `-output` flag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned `Key : value` blocks.
    #[default]
    Pretty,
    /// Protobuf JSON of the API response.
    Json,
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pretty => "pretty",
            Self::Json => "json",
        })
    }
}

/// One record as aligned `Key : value` lines, followed by a blank line.
#[derive(Debug, Clone)]
pub struct PrettyRecord {
    width: usize,
    text: String,
}

impl PrettyRecord {
    /// A record whose keys are padded to `width` columns (SPIRE uses 17 for entries).
    pub fn new(width: usize) -> Self {
        Self {
            width,
            text: String::new(),
        }
    }

    /// Adds a `key : value` line.
    pub fn field(&mut self, key: &str, value: impl fmt::Display) -> &mut Self {
        // Writing to a String cannot fail.
        let _ = writeln!(self.text, "{key:<width$}: {value}", width = self.width);
        self
    }

    /// Adds a line only when `value` is `Some`.
    pub fn optional(&mut self, key: &str, value: Option<impl fmt::Display>) -> &mut Self {
        if let Some(value) = value {
            self.field(key, value);
        }
        self
    }

    /// Adds one line per value, all with the same key (`Selector : ...` repeated).
    pub fn repeated<T: fmt::Display>(
        &mut self,
        key: &str,
        values: impl IntoIterator<Item = T>,
    ) -> &mut Self {
        for value in values {
            self.field(key, value);
        }
        self
    }

    /// The lines and the blank line that ends the record.
    pub fn render(&self) -> String {
        format!("{}\n", self.text)
    }
}

/// `Found 1 entry` / `Found 3 entries`.
pub fn found_line(count: usize, singular: &str, plural: &str) -> String {
    let noun = if count == 1 { singular } else { plural };
    format!("Found {count} {noun}")
}

/// The JSON text SPIRE prints: one compact line and a newline.
pub fn json_line(value: &Value) -> String {
    format!("{value}\n")
}

/// A protobuf `int64`/`uint64`, which protobuf JSON writes as a string.
pub fn proto_int64(value: impl Into<i128>) -> Value {
    Value::String(value.into().to_string())
}

/// A protobuf `bytes` field: standard base64 with padding.
pub fn proto_bytes(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The one-line message for a failed CLI command: `Error: ` and the error with its causes,
/// joined by `: `, newlines flattened.
pub fn error_line(err: &(dyn std::error::Error + 'static)) -> String {
    format!("Error: {}", error_chain(err))
}

/// The error and its causes, joined by `: ` (a cause already at the end of the text is
/// not repeated), newlines flattened.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.ends_with(&text) {
            let _ = write!(line, ": {text}");
        }
        source = cause.source();
    }
    line.replace('\n', " ")
}

/// Whether a write failed because the reader closed the pipe (`| head`): the reader's
/// choice, not a failure worth a message.
pub fn is_closed_pipe(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::BrokenPipe
}

/// Writes a daemon's or command's last line (`Error: ...`) to stderr.
///
/// Unlike `eprintln!`, it does not panic when stderr is a closed pipe (`2>&1 | head`),
/// which would turn the exit status into 101.
pub fn print_error_line(line: &str) {
    write_error_line(&mut std::io::stderr().lock(), line);
}

/// Writes `line` and a newline to `out`. A failure (a closed pipe, a full disk) is
/// ignored: this is the last thing the program says and there is nowhere else to say it.
pub fn write_error_line(out: &mut dyn std::io::Write, line: &str) {
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// A gRPC status in words: what kind of failure, then the server's message.
pub fn describe_status(status: &tonic::Status) -> String {
    use tonic::Code;

    let kind = match status.code() {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown error",
        Code::InvalidArgument => "invalid argument",
        Code::DeadlineExceeded => "timed out",
        Code::NotFound => "not found",
        Code::AlreadyExists => "already exists",
        Code::PermissionDenied => "permission denied",
        Code::ResourceExhausted => "resource exhausted",
        Code::FailedPrecondition => "failed precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out of range",
        Code::Unimplemented => "not supported by the server",
        Code::Internal => "internal server error",
        Code::Unavailable => "server unavailable",
        Code::DataLoss => "data loss",
        Code::Unauthenticated => "unauthenticated",
    };
    let message = status.message().trim();
    if message.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {}", message.replace('\n', " "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_align_like_spire() {
        let mut record = PrettyRecord::new(17);
        record
            .field("Entry ID", "00000000-0000-0000-0000-000000000000")
            .field("SPIFFE ID", "spiffe://example.org/son")
            .optional("Hint", None::<&str>)
            .repeated("Selector", ["foo:bar", "bar:baz"]);

        assert_eq!(
            record.render(),
            "Entry ID         : 00000000-0000-0000-0000-000000000000\n\
             SPIFFE ID        : spiffe://example.org/son\n\
             Selector         : foo:bar\n\
             Selector         : bar:baz\n\
             \n"
        );
    }

    #[test]
    fn found_line_pluralizes() {
        assert_eq!(found_line(1, "entry", "entries"), "Found 1 entry");
        assert_eq!(found_line(0, "entry", "entries"), "Found 0 entries");
        assert_eq!(found_line(4, "bundle", "bundles"), "Found 4 bundles");
    }

    #[test]
    fn json_follows_protobuf_json_rules() {
        let value = serde_json::json!({
            "expires_at": proto_int64(1_552_410_266_i64),
            "der": proto_bytes(b"\x01\x02\xff"),
            "count": 42,
        });
        assert_eq!(
            json_line(&value),
            "{\"count\":42,\"der\":\"AQL/\",\"expires_at\":\"1552410266\"}\n"
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot fetch entries")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn error_line_is_one_line_with_causes() {
        let err = Outer(std::io::Error::other("broken\npipe"));
        assert_eq!(error_line(&err), "Error: cannot fetch entries: broken pipe");
    }

    #[test]
    fn error_line_is_written_to_a_closed_pipe_without_panicking() {
        use std::io::Write as _;

        let (reader, mut writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let err = writeln!(writer, "x").expect_err("the pipe is closed");
        assert!(is_closed_pipe(&err), "{err}");
        write_error_line(&mut writer, "Error: still quiet");
    }

    #[test]
    fn error_line_reaches_an_open_pipe() {
        let (mut reader, mut writer) = std::io::pipe().expect("pipe");
        write_error_line(&mut writer, "Error: one line");
        drop(writer);
        let mut text = String::new();
        std::io::Read::read_to_string(&mut reader, &mut text).expect("read");
        assert_eq!(text, "Error: one line\n");
    }

    #[test]
    fn statuses_read_as_words() {
        let status = tonic::Status::not_found("no such registration entry");
        assert_eq!(
            describe_status(&status),
            "not found: no such registration entry"
        );
        assert_eq!(
            describe_status(&tonic::Status::unavailable("")),
            "server unavailable"
        );
    }
}
