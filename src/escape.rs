//! Names are bytes from untrusted layers: this turns them into text that is safe to print on a
//! terminal, so no escape sequence, newline or invalid UTF-8 reaches it raw.

use std::fmt::Write;

/// Escapes a name for a terminal: control characters, bidirectional overrides, backslashes and
/// invalid UTF-8 bytes become visible escapes (`\n`, `\x1b`, `\u{202e}`, `\\`, `\xff`).
#[must_use]
pub fn display(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_char(&mut out, c);
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

fn push_char(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        c if c.is_control() => {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        }
        // Bidirectional controls can reorder what the terminal shows around them.
        '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
        c => out.push(c),
    }
}

/// [`display`] for a path.
#[must_use]
pub fn path(p: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    display(p.as_os_str().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::display;

    #[test]
    fn control_bytes_and_invalid_utf8_are_escaped() {
        assert_eq!(display(b"a\x1b[31mb"), "a\\x1b[31mb");
        assert_eq!(display(b"new\nline\ttab"), "new\\nline\\ttab");
        assert_eq!(display(b"bad\xff\xfe"), "bad\\xff\\xfe");
        assert_eq!(display(b"back\\slash"), "back\\\\slash");
        assert_eq!(display("rtl\u{202e}txt".as_bytes()), "rtl\\u{202e}txt");
        assert_eq!(display("日本語 ok".as_bytes()), "日本語 ok");
        assert_eq!(display("\u{9b}c1".as_bytes()), "\\x9bc1");
    }
}
