//! The example gateway's text log format: `tracing-subscriber`'s own, with a cheaper field
//! formatter, [`PlainFields`].
//!
//! The `fmt` layer formats a span's fields into a string when the span is made, whether or not
//! anything is logged inside it. Every request opens a span (method, route template, request
//! id), so with `DefaultFields` every request paid for `core::fmt`'s `Debug` quoting of three
//! strings character by character, a styled (`nu_ansi_term`) field name even with colours off,
//! and three or four reallocations of the string. [`PlainFields`] writes the same bytes.

use std::fmt::{self, Write as _};

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::{RecordFields, VisitOutput as _};
use tracing_subscriber::fmt::format::{DefaultFields, DefaultVisitor, Writer};
use tracing_subscriber::fmt::{FormatFields, FormattedFields, MakeWriter};

/// The human-readable log subscriber of the example gateway: `tracing-subscriber`'s full text
/// format without the target, colours only when `ansi`, fields written by [`PlainFields`].
pub(crate) fn text_subscriber<W>(
    filter: EnvFilter,
    ansi: bool,
    writer: W,
) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .fmt_fields(PlainFields)
        .with_writer(writer)
        .finish()
}

/// Formats fields exactly as [`DefaultFields`] does, with a fast path for what spans and most
/// events carry: a field other than `message` whose value is a string of printable ASCII, or
/// any other value's `Debug` form, is written into a buffer on the stack and handed to the log
/// line's string in one piece. Messages and errors (which `DefaultFields` cleans of terminal
/// escape sequences), raw identifiers (`r#type`) and coloured output go to [`DefaultFields`]
/// itself.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PlainFields;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        if writer.has_ansi_escapes() {
            return DefaultFields::new().format_fields(writer, fields);
        }
        let mut visitor = PlainVisitor {
            writer: writer.by_ref(),
            buffer: Buffer::new(),
            is_empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.finish()
    }
}

/// Writes the fields of one span or event; see [`PlainFields`].
struct PlainVisitor<'a> {
    writer: Writer<'a>,
    buffer: Buffer,
    /// Whether no field was written yet (the next one needs no separating space).
    is_empty: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    /// `name=` then `value`, as `DefaultVisitor` writes a field without colours.
    fn plain(
        &mut self,
        name: &str,
        value: impl FnOnce(&mut Buffer, &mut Writer<'_>) -> fmt::Result,
    ) {
        if self.result.is_err() {
            return;
        }
        let (buffer, writer) = (&mut self.buffer, &mut self.writer);
        let pad = !std::mem::replace(&mut self.is_empty, false);
        self.result = (|| {
            if pad {
                buffer.write_str(" ", writer)?;
            }
            buffer.write_str(name, writer)?;
            buffer.write_str("=", writer)?;
            value(buffer, writer)
        })();
    }

    /// A field written by `DefaultVisitor` itself, after what is buffered.
    fn default(&mut self, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        if self.result.is_err() {
            return;
        }
        self.result = self.buffer.flush(&mut self.writer).and_then(|()| {
            let mut visitor = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
            record(&mut visitor);
            visitor.finish()
        });
        self.is_empty = false;
    }

    fn finish(mut self) -> fmt::Result {
        self.result?;
        self.buffer.flush(&mut self.writer)
    }
}

/// Whether `DefaultFields` would write the field `name` itself (see [`PlainFields`]).
fn needs_default(name: &str) -> bool {
    name == "message" || name.starts_with("r#")
}

/// Whether `value`'s `Debug` form is `value` in double quotes: printable ASCII with no quote or
/// backslash to escape.
fn quotes_as_is(value: &str) -> bool {
    // A fold without early exit, which the compiler turns into a few vector instructions for
    // a route or a request id.
    value.bytes().fold(true, |plain, b| {
        plain & (b' '..=b'~').contains(&b) & (b != b'"') & (b != b'\\')
    })
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if needs_default(field.name()) {
            self.default(|visitor| visitor.record_str(field, value));
        } else if quotes_as_is(value) {
            self.plain(field.name(), |buffer, writer| {
                buffer.write_str("\"", writer)?;
                buffer.write_str(value, writer)?;
                buffer.write_str("\"", writer)
            });
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.default(|visitor| visitor.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if needs_default(field.name()) {
            self.default(|visitor| visitor.record_debug(field, value));
        } else {
            self.plain(field.name(), |buffer, writer| {
                write!(buffer.sink(writer), "{value:?}")
            });
        }
    }
}

/// Bytes on their way to the log line's string: appending them a few at a time grew the
/// string three or four times per span.
struct Buffer {
    bytes: [u8; BUFFER_BYTES],
    len: usize,
}

/// Enough for a request span's fields with a long route and request id.
const BUFFER_BYTES: usize = 256;

impl Buffer {
    fn new() -> Self {
        Self {
            bytes: [0; BUFFER_BYTES],
            len: 0,
        }
    }

    /// Buffers `text`, or writes what is buffered and then `text` when it does not fit.
    fn write_str(&mut self, text: &str, writer: &mut Writer<'_>) -> fmt::Result {
        if let Some(room) = self.bytes.get_mut(self.len..self.len + text.len()) {
            room.copy_from_slice(text.as_bytes());
            self.len += text.len();
            return Ok(());
        }
        self.flush(writer)?;
        if text.len() <= BUFFER_BYTES {
            return self.write_str(text, writer);
        }
        writer.write_str(text)
    }

    /// Hands what is buffered to `writer`.
    fn flush(&mut self, writer: &mut Writer<'_>) -> fmt::Result {
        let buffered = self.bytes.get(..self.len).unwrap_or_default();
        self.len = 0;
        // Only whole `&str`s are buffered, so the bytes are UTF-8 up to `len`.
        writer.write_str(std::str::from_utf8(buffered).map_err(|_| fmt::Error)?)
    }

    /// `fmt::Write` into this buffer, overflowing into `writer`.
    fn sink<'a, 'w>(&'a mut self, writer: &'a mut Writer<'w>) -> Sink<'a, 'w> {
        Sink {
            buffer: self,
            writer,
        }
    }
}

/// See [`Buffer::sink`].
struct Sink<'a, 'w> {
    buffer: &'a mut Buffer,
    writer: &'a mut Writer<'w>,
}

impl fmt::Write for Sink<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.buffer.write_str(text, self.writer)
    }
}

/// The JSON log subscriber of the example gateway: `tracing-subscriber`'s JSON format (one
/// object per line, the spans' fields under `spans`, no separate current span), the spans'
/// fields written by [`JsonSpanFields`].
pub(crate) fn json_subscriber<W>(
    filter: EnvFilter,
    writer: W,
) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .fmt_fields(JsonSpanFields)
        .with_writer(writer)
        .finish()
}

/// A span's fields as the JSON object `tracing-subscriber`'s `JsonFields` makes of them (the
/// JSON format uses a span's formatter only for spans; it reads the object back, in key order,
/// when a line is logged inside the span), written straight into the span's string:
/// `JsonFields` built a map of `serde_json` values, one allocated string per field, then
/// serialised it, for every request.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct JsonSpanFields;

impl<'writer> FormatFields<'writer> for JsonSpanFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut visitor = JsonVisitor {
            writer: writer.by_ref(),
            buffer: Buffer::new(),
            is_empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.finish()
    }

    /// Fields recorded after the span was made join its object (a field recorded again is
    /// read back with its newer value, as `JsonFields` keeps it).
    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut added = String::new();
        self.format_fields(Writer::new(&mut added), fields)?;
        if added == "{}" {
            return Ok(());
        }
        match current.fields.strip_suffix('}') {
            Some(open) if open != "{" => {
                let joined = format!("{open},{}", added.get(1..).unwrap_or_default());
                current.fields = joined;
            }
            _ => current.fields = added,
        }
        Ok(())
    }
}

/// Writes the fields of one span as a JSON object; see [`JsonSpanFields`].
struct JsonVisitor<'a> {
    writer: Writer<'a>,
    buffer: Buffer,
    is_empty: bool,
    result: fmt::Result,
}

impl JsonVisitor<'_> {
    /// `"name":` then `value`, after `{` or `,`.
    fn field(&mut self, name: &str, value: impl FnOnce(&mut Sink<'_, '_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let mut sink = self.buffer.sink(&mut self.writer);
        let opening = if std::mem::replace(&mut self.is_empty, false) {
            "{"
        } else {
            ","
        };
        self.result = (|| {
            sink.write_str(opening)?;
            json_string(&mut sink, name)?;
            sink.write_str(":")?;
            value(&mut sink)
        })();
    }

    fn finish(mut self) -> fmt::Result {
        self.result?;
        let closing = if self.is_empty { "{}" } else { "}" };
        self.buffer.write_str(closing, &mut self.writer)?;
        self.buffer.flush(&mut self.writer)
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // As `serde_json` writes an `f64`: `null` when it is not finite.
        if value.is_finite() {
            self.field(field.name(), |sink| write!(sink, "{value:?}"));
        } else {
            self.field(field.name(), |sink| sink.write_str("null"));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field.name(), |sink| write!(sink, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field.name(), |sink| write!(sink, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field.name(), |sink| write!(sink, "{value}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field.name(), |sink| json_string(sink, value));
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.field(field.name(), |sink| {
            sink.write_str("[")?;
            for (i, byte) in value.iter().enumerate() {
                if i > 0 {
                    sink.write_str(",")?;
                }
                write!(sink, "{byte}")?;
            }
            sink.write_str("]")
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        // `JsonFields` drops the `r#` of a raw identifier only here.
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.field(name, |sink| {
            sink.write_str("\"")?;
            write!(JsonEscaped(sink), "{value:?}")?;
            sink.write_str("\"")
        });
    }
}

/// `text` as a JSON string.
fn json_string(sink: &mut Sink<'_, '_>, text: &str) -> fmt::Result {
    sink.write_str("\"")?;
    JsonEscaped(sink).write_str(text)?;
    sink.write_str("\"")
}

/// Escapes what it is given as `serde_json` escapes the inside of a string: quote, backslash
/// and control characters.
struct JsonEscaped<'s, 'a, 'w>(&'s mut Sink<'a, 'w>);

impl fmt::Write for JsonEscaped<'_, '_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // Names, routes and ids have nothing to escape: one vectorised check, one copy.
        let nothing_to_escape = text.bytes().fold(true, |plain, b| {
            plain & (b >= b' ') & (b != b'"') & (b != b'\\')
        });
        if nothing_to_escape {
            return self.0.write_str(text);
        }
        let mut plain = 0;
        for (at, byte) in text.bytes().enumerate() {
            let escaped = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                0..0x20 => "",
                _ => continue,
            };
            self.0.write_str(text.get(plain..at).unwrap_or_default())?;
            if escaped.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escaped)?;
            }
            plain = at + 1;
        }
        self.0.write_str(text.get(plain..).unwrap_or_default())
    }
}
