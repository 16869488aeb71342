//! Tar headers as every layer tar writer makes them: ustar (with its name prefix), GNU (long
//! names and links as `L`/`K` entries, base-256 numbers) and PAX (`x` records overriding the
//! path, link, size, owner and mtime, and carrying `SCHILY.xattr.*`). One parser for the layer
//! index and for the outer tar of an archive.

use std::io::{self, Read};

/// The largest PAX record or GNU long name accepted: real ones are a few hundred bytes, and a
/// hostile tar must not make us allocate what its header claims.
pub const RECORD_LIMIT: u64 = 1 << 20;

const BLOCK: usize = 512;

/// One entry's header, with PAX and GNU overrides applied.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// The name as stored (not normalised).
    pub name: Vec<u8>,
    /// Permission bits and set-id bits (no type).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Data bytes that follow the header.
    pub size: u64,
    /// Modification time, whole seconds.
    pub mtime: i64,
    /// The type flag (`0` file, `1` hard link, `2` symlink, `5` directory, ...).
    pub kind: u8,
    /// A link's target.
    pub link: Vec<u8>,
    /// A device's numbers.
    pub dev: (u32, u32),
    /// Where its data starts in the (uncompressed) tar stream.
    pub data_offset: u64,
    /// Extended attributes from PAX `SCHILY.xattr.*` records.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// A GNU or PAX sparse file (its data is not stored contiguously).
    pub sparse: bool,
}

/// A stream of tar bytes that can skip forward (by seeking when it can).
pub trait Stream: Read {
    /// Skips `n` bytes.
    ///
    /// # Errors
    /// The stream ends first (`UnexpectedEof`) or cannot be read.
    fn skip(&mut self, n: u64) -> io::Result<()> {
        let copied = io::copy(&mut self.take(n), &mut io::sink())?;
        if copied < n {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the tar ends inside an entry's data (truncated)",
            ));
        }
        Ok(())
    }
}

impl Stream for super::source::RangeReader {
    fn skip(&mut self, n: u64) -> io::Result<()> {
        // A file range seeks: only the length need be checked.
        self.seek_forward(n)
    }
}

/// Bytes read ahead at once: headers of small files that follow one another are parsed from
/// one read instead of one `pread` (or one decoder call) each.
const READ_AHEAD: usize = 64 << 10;
/// Bytes read ahead after a seek past the buffer (a file's data): the next header and one
/// block of what follows it. Each byte read here is copied once more beside the hash's own
/// read of the blob, so little is read that a further seek would discard (a small file's data
/// after it comes with the next read-ahead).
const READ_AFTER_SEEK: usize = 1 << 10;

/// Reads entries one by one from a tar stream.
pub struct Entries<S: Stream> {
    stream: S,
    /// Bytes consumed so far.
    pos: u64,
    /// Data of the last entry not read yet (padded to a block).
    pending: u64,
    done: bool,
    /// Bytes read from the stream and not consumed yet: `buf[start..end]`.
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// The last skip went past the buffer (seeked, on a file range).
    seeked: bool,
}

/// An error in the tar's structure: what is wrong and at which byte.
pub fn bad(at: u64, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not a valid tar at byte {at}: {what}"),
    )
}

impl<S: Stream> Entries<S> {
    /// Entries of `stream` (at its start).
    pub fn new(stream: S) -> Self {
        Entries {
            stream,
            pos: 0,
            pending: 0,
            done: false,
            buf: vec![0; READ_AHEAD].into_boxed_slice(),
            start: 0,
            end: 0,
            seeked: false,
        }
    }

    /// Bytes of the stream parsed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Gives back the stream, once the end is reached (bytes read ahead are not in it).
    pub fn into_stream(self) -> S {
        self.stream
    }

    fn skip(&mut self, n: u64) -> io::Result<()> {
        let held = (self.end - self.start) as u64;
        if n <= held {
            self.start += n as usize;
        } else {
            self.start = self.end;
            self.stream.skip(n - held)?;
            self.seeked = true;
        }
        self.pos += n;
        Ok(())
    }

    /// Reads more into the buffer (keeping what is not consumed); 0 at the end of the stream.
    fn refill(&mut self) -> io::Result<usize> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let want = if std::mem::take(&mut self.seeked) {
            READ_AFTER_SEEK
        } else {
            READ_AHEAD
        };
        let stop = (self.end + want).min(self.buf.len());
        loop {
            match self.stream.read(&mut self.buf[self.end..stop]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Fills `out` from the buffer and the stream; false when the stream ends first.
    fn read_buffered(&mut self, out: &mut [u8]) -> io::Result<bool> {
        let mut got = 0;
        while got < out.len() {
            if self.start == self.end && self.refill()? == 0 {
                self.pos += got as u64;
                return Ok(false);
            }
            let n = (out.len() - got).min(self.end - self.start);
            out[got..got + n].copy_from_slice(&self.buf[self.start..self.start + n]);
            self.start += n;
            got += n;
        }
        self.pos += got as u64;
        Ok(true)
    }

    fn block(&mut self) -> io::Result<Option<[u8; BLOCK]>> {
        let mut b = [0u8; BLOCK];
        if self.start == self.end && self.refill()? == 0 {
            return Ok(None);
        }
        if self.read_buffered(&mut b)? {
            Ok(Some(b))
        } else {
            Err(bad(self.pos, "the tar ends inside a header (truncated)"))
        }
    }

    fn record(&mut self, size: u64, what: &str) -> io::Result<Vec<u8>> {
        if size > RECORD_LIMIT {
            return Err(bad(
                self.pos,
                format!("a {what} of {size} bytes (at most {RECORD_LIMIT} are read)"),
            ));
        }
        let mut buf = vec![0u8; size as usize];
        if !self.read_buffered(&mut buf)? {
            return Err(bad(
                self.pos,
                format!("the tar ends inside a {what} (truncated)"),
            ));
        }
        self.skip(pad(size))?;
        Ok(buf)
    }

    /// The next entry (`None` at the end-of-archive blocks or the end of the stream). The
    /// previous entry's data is skipped if the caller did not read it.
    ///
    /// # Errors
    /// A damaged or truncated tar; the message says at which byte.
    pub fn next_entry(&mut self) -> io::Result<Option<Entry>> {
        if self.done {
            return Ok(None);
        }
        let left = self.pending;
        self.pending = 0;
        self.skip(left)?;
        let mut over = Entry::default();
        let mut have = Overrides::default();
        loop {
            let Some(block) = self.block()? else {
                self.done = true;
                return Ok(None);
            };
            if block.iter().all(|&b| b == 0) {
                // End of archive (two zero blocks; one is enough to stop, as GNU tar does).
                self.done = true;
                return Ok(None);
            }
            let at = self.pos - BLOCK as u64;
            let h = parse(&block).map_err(|e| bad(at, e))?;
            match h.kind {
                b'x' => {
                    let rec = self.record(h.size, "PAX header")?;
                    pax(&rec, &mut over, &mut have).map_err(|e| bad(at, e))?;
                }
                b'g' => {
                    // Global PAX records: no layer writer sets the fields we use in them.
                    self.record(h.size, "PAX global header")?;
                }
                b'L' => {
                    let rec = self.record(h.size, "GNU long name")?;
                    over.name = trim_nul(&rec).to_vec();
                    have.name = true;
                }
                b'K' => {
                    let rec = self.record(h.size, "GNU long link")?;
                    over.link = trim_nul(&rec).to_vec();
                    have.link = true;
                }
                _ => {
                    let mut e = h;
                    if have.name {
                        e.name = std::mem::take(&mut over.name);
                    }
                    if have.link {
                        e.link = std::mem::take(&mut over.link);
                    }
                    if let Some(v) = have.size {
                        e.size = v;
                    }
                    if let Some(v) = have.uid {
                        e.uid = v;
                    }
                    if let Some(v) = have.gid {
                        e.gid = v;
                    }
                    if let Some(v) = have.mtime {
                        e.mtime = v;
                    }
                    e.xattrs = std::mem::take(&mut over.xattrs);
                    e.sparse = e.kind == b'S' || have.sparse;
                    e.data_offset = self.pos;
                    // Links, directories and devices carry no data whatever size they claim.
                    let data = if matches!(e.kind, b'1' | b'2' | b'3' | b'4' | b'5' | b'6') {
                        0
                    } else {
                        e.size
                    };
                    if matches!(e.kind, b'1' | b'2' | b'3' | b'4' | b'5' | b'6') {
                        e.size = 0;
                    }
                    self.pending = data + pad(data);
                    return Ok(Some(e));
                }
            }
        }
    }
}

/// Bytes of padding after `size` bytes of data.
fn pad(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

fn trim_nul(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    &b[..end]
}

/// Which header fields PAX or GNU records replaced.
#[derive(Default)]
struct Overrides {
    name: bool,
    link: bool,
    size: Option<u64>,
    uid: Option<u32>,
    gid: Option<u32>,
    mtime: Option<i64>,
    sparse: bool,
}

/// Applies the records of a PAX extended header.
fn pax(rec: &[u8], over: &mut Entry, have: &mut Overrides) -> Result<(), String> {
    let mut rest = rec;
    while !rest.is_empty() {
        let sp = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or("a PAX record without a length")?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("a PAX record with a bad length")?;
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err("a PAX record whose length does not fit".into());
        }
        let kv = &rest[sp + 1..len - 1];
        rest = &rest[len..];
        let eq = kv
            .iter()
            .position(|&b| b == b'=')
            .ok_or("a PAX record without '='")?;
        let (key, value) = (&kv[..eq], &kv[eq + 1..]);
        let number = |v: &[u8]| -> Option<u64> {
            let s = std::str::from_utf8(v).ok()?;
            s.split('.').next()?.parse().ok()
        };
        match key {
            b"path" => {
                over.name = value.to_vec();
                have.name = true;
            }
            b"linkpath" => {
                over.link = value.to_vec();
                have.link = true;
            }
            b"size" => have.size = Some(number(value).ok_or("a bad PAX size")?),
            b"uid" => have.uid = number(value).and_then(|n| u32::try_from(n).ok()),
            b"gid" => have.gid = number(value).and_then(|n| u32::try_from(n).ok()),
            b"mtime" => {
                // May be negative or fractional: the whole seconds.
                let s = std::str::from_utf8(value).unwrap_or("");
                have.mtime = s.split('.').next().and_then(|t| t.parse().ok());
            }
            _ if key.starts_with(b"SCHILY.xattr.") => {
                over.xattrs
                    .push((key[b"SCHILY.xattr.".len()..].to_vec(), value.to_vec()));
            }
            _ if key.starts_with(b"GNU.sparse.") => have.sparse = true,
            _ => {}
        }
    }
    Ok(())
}

/// Parses one header block.
fn parse(b: &[u8; BLOCK]) -> Result<Entry, String> {
    let stored = number(&b[148..156]).ok_or("a header checksum that is not a number")?;
    // The sum with the checksum field counted as eight spaces, unsigned and (as some old tars
    // wrote it) signed.
    // Each part summed on its own in 32 bits (512 bytes cannot overflow), which vectorises.
    let sum = |s: &[u8]| s.iter().map(|&c| u32::from(c)).sum::<u32>();
    let sum_signed = |s: &[u8]| s.iter().map(|&c| i32::from(c as i8)).sum::<i32>();
    let unsigned = u64::from(8 * u32::from(b' ') + sum(&b[..148]) + sum(&b[156..]));
    let signed = i64::from(8 * i32::from(b' ') + sum_signed(&b[..148]) + sum_signed(&b[156..]));
    if stored != unsigned && i64::try_from(stored).ok() != Some(signed) {
        return Err(format!(
            "a header whose checksum is wrong (stored {stored}, computed {unsigned}): not a tar, \
             or damaged"
        ));
    }
    let field = |r: std::ops::Range<usize>| trim_nul(&b[r]).to_vec();
    let num = |r: std::ops::Range<usize>, what: &str| {
        number(&b[r]).ok_or_else(|| format!("a header whose {what} is not a number"))
    };
    let ustar = &b[257..263] == b"ustar\0";
    let mut name = field(0..100);
    if ustar {
        let prefix = field(345..500);
        if !prefix.is_empty() {
            name = [prefix.as_slice(), b"/", name.as_slice()].concat();
        }
    }
    let small = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    Ok(Entry {
        name,
        mode: small(num(100..108, "mode")? & 0o7777),
        uid: small(num(108..116, "uid")?),
        gid: small(num(116..124, "gid")?),
        size: num(124..136, "size")?,
        mtime: i64::try_from(num(136..148, "mtime")?).unwrap_or(i64::MAX),
        kind: b[156],
        link: field(157..257),
        dev: (
            small(number(&b[329..337]).unwrap_or(0)),
            small(number(&b[337..345]).unwrap_or(0)),
        ),
        ..Entry::default()
    })
}

/// A numeric field: octal (space or NUL padded), or GNU's base-256 when the top bit is set.
fn number(f: &[u8]) -> Option<u64> {
    if f.first().is_some_and(|&c| c & 0x80 != 0) {
        if f[0] & 0x40 != 0 {
            return None; // negative
        }
        let mut v: u64 = u64::from(f[0] & 0x3f);
        for &c in &f[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(c))?;
        }
        return Some(v);
    }
    // Octal digits after leading spaces, up to a NUL or a space; none is zero.
    let mut v: u64 = 0;
    for &c in f.iter().skip_while(|&&c| c == b' ') {
        match c {
            0 | b' ' => break,
            b'0'..=b'7' => v = v.checked_mul(8)?.checked_add(u64::from(c - b'0'))?,
            _ => return None,
        }
    }
    Some(v)
}

/// One regular file of an outer tar.
#[derive(Debug, Clone)]
pub struct OuterMember {
    /// Its name as stored.
    pub name: Vec<u8>,
    /// Where its data starts in the file.
    pub offset: u64,
    /// Its size.
    pub size: u64,
}

/// The regular files of the uncompressed tar `file` (`docker save` output, an OCI archive), in
/// order, read by seeking past each file's data.
///
/// # Errors
/// Not a tar (a compressed file is named as such), damaged, or truncated.
pub fn outer_members(file: &std::fs::File) -> crate::error::Result<Vec<OuterMember>> {
    let len = file
        .metadata()
        .map_err(|e| crate::Error::BadInput(format!("cannot stat it: {e}")))?
        .len();
    let source = super::BlobSource::new(
        std::sync::Arc::new(
            file.try_clone()
                .map_err(|e| crate::Error::BadInput(format!("cannot open it again: {e}")))?,
        ),
        0,
        len,
    );
    let mut magic = [0u8; 4];
    let n = source.read_at(&mut magic, 0).unwrap_or(0);
    if let Some(c) =
        super::Compression::sniff(&magic[..n]).filter(|c| *c != super::Compression::None)
    {
        return Err(crate::Error::BadInput(format!(
            "it is {c}-compressed: decompress it first (an image archive is a plain tar)"
        )));
    }
    let mut entries = Entries::new(source.reader_at(0));
    let mut out = Vec::new();
    while let Some(e) = entries
        .next_entry()
        .map_err(|e| crate::Error::BadInput(e.to_string()))?
    {
        if matches!(e.kind, b'0' | 0 | b'7') && !e.sparse {
            if e.data_offset + e.size > len {
                return Err(crate::Error::BadInput(format!(
                    "member '{}' claims {} bytes past the end of the file (truncated)",
                    crate::escape::display(&e.name),
                    e.data_offset + e.size - len
                )));
            }
            out.push(OuterMember {
                name: e.name,
                offset: e.data_offset,
                size: e.size,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_octal_or_base_256() {
        assert_eq!(number(b"0000644\0"), Some(0o644));
        assert_eq!(number(b"  755 \0"), Some(0o755));
        assert_eq!(number(b"\0\0\0\0"), Some(0));
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[7] = 2; // 2 << 32
        assert_eq!(number(&big), Some(2 << 32));
        assert_eq!(number(b"12x4"), None);
    }

    #[test]
    fn pax_records_override_and_bad_ones_are_refused() {
        let mut e = Entry::default();
        let mut h = Overrides::default();
        let rec = b"16 path=a/b/c.d\n18 mtime=12.75000\n29 SCHILY.xattr.user.k=value\n";
        pax(rec, &mut e, &mut h).expect("valid");
        assert_eq!((e.name.as_slice(), h.mtime), (&b"a/b/c.d"[..], Some(12)));
        assert_eq!(e.xattrs, vec![(b"user.k".to_vec(), b"value".to_vec())]);
        for bad in [&b"99 path=x\n"[..], b"x path=y\n", b"9 pathy\n"] {
            assert!(pax(bad, &mut Entry::default(), &mut Overrides::default()).is_err());
        }
    }
}
