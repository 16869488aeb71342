//! A small read-only reader of bbolt files (containerd's `meta.db` and the overlayfs
//! snapshotter's `metadata.db`).
//!
//! The file is opened read-only and never locked: a running containerd holds an exclusive
//! `flock` on it, which a bbolt client would wait for. bbolt is copy-on-write, so the tree
//! reachable from the newest valid meta page is consistent as long as the writer does not reuse
//! its pages while we read; we check that the meta page did not change across the read and
//! retry when it did (or when a page looks torn).
//!
//! Format (go.etcd.io/bbolt: page.go, node.go, bucket.go, db.go):
//! - every page starts with `id u64, flags u16, count u16, overflow u32`; a page spans
//!   `overflow + 1` page-size blocks;
//! - pages 0 and 1 are meta pages: `magic u32 = 0xED0CDAED, version u32 = 2, page_size u32,
//!   flags u32, root {pgid u64, sequence u64}, freelist u64, high-water pgid u64, txid u64,
//!   checksum u64` (FNV-1a 64 of the preceding 56 bytes); the valid one with the higher txid wins;
//! - branch pages (flag 0x01) hold `pos u32, ksize u32, pgid u64` elements, leaf pages (flag
//!   0x02) hold `flags u32, pos u32, ksize u32, vsize u32` elements; `pos` is relative to the
//!   element itself;
//! - a leaf element with flag 0x01 is a sub-bucket: its value is `root pgid u64, sequence u64`,
//!   and when the root is 0 an inline page follows in the value itself.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, Result};

const MAGIC: u32 = 0xED0C_DAED;
const PAGE_HEADER: usize = 16;
const ELEMENT: usize = 16;
const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;
const BUCKET_LEAF: u32 = 0x01;
/// Nesting deeper than this is treated as corruption (containerd nests 5 or 6 deep).
const MAX_DEPTH: usize = 32;
/// Attempts at a consistent read while a writer is busy.
const ATTEMPTS: usize = 8;

/// A bucket loaded into memory: its plain values and its sub-buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Key → value for plain entries.
    pub values: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Key → sub-bucket.
    pub buckets: BTreeMap<Vec<u8>, Bucket>,
}

impl Bucket {
    /// The sub-bucket at `path` (each element one level down).
    #[must_use]
    pub fn at(&self, path: &[&[u8]]) -> Option<&Bucket> {
        let mut b = self;
        for name in path {
            b = b.buckets.get(*name)?;
        }
        Some(b)
    }

    /// A plain value, as bytes.
    #[must_use]
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.values.get(key).map(Vec::as_slice)
    }

    /// A plain value, as (lossy) text.
    #[must_use]
    pub fn text(&self, key: &[u8]) -> Option<String> {
        self.get(key)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// An unsigned varint value (Go's `binary.PutUvarint`).
    #[must_use]
    pub fn uvarint(&self, key: &[u8]) -> Option<u64> {
        self.get(key).and_then(|v| uvarint(v).map(|(n, _)| n))
    }

    /// A signed varint value (Go's `binary.PutVarint`).
    #[must_use]
    pub fn varint(&self, key: &[u8]) -> Option<i64> {
        let (u, _) = uvarint(self.get(key)?)?;
        let x = i64::try_from(u >> 1).ok()?;
        Some(if u & 1 == 0 { x } else { !x })
    }
}

/// Decodes an unsigned varint; returns the value and the bytes used.
#[must_use]
pub fn uvarint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut x: u64 = 0;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        x |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((x, i + 1));
        }
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    page_size: u64,
    root: u64,
    high: u64,
    txid: u64,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Parses a meta page's body (the bytes after the page header).
fn parse_meta(body: &[u8]) -> Option<Meta> {
    if u32_at(body, 0)? != MAGIC || u32_at(body, 4)? != 2 {
        return None;
    }
    if fnv1a64(body.get(..56)?) != u64_at(body, 56)? {
        return None;
    }
    let page_size = u64::from(u32_at(body, 8)?);
    if !(512..=1 << 20).contains(&page_size) {
        return None;
    }
    Some(Meta {
        page_size,
        root: u64_at(body, 16)?,
        high: u64_at(body, 40)?,
        txid: u64_at(body, 48)?,
    })
}

/// One consistent read of a bbolt file.
struct Reader<'a> {
    file: &'a File,
    path: &'a Path,
    meta: Meta,
    /// Pages read so far, to bound the work on a corrupt (cyclic) file.
    budget: u64,
    /// Called after each page is read (the tests put a writer's commit here).
    after_page: &'a mut dyn FnMut(u64),
}

/// Why one read attempt failed: a torn read (retry) or a hard error.
#[derive(Debug)]
enum Fail {
    Torn(String),
    Hard(Error),
}

impl Reader<'_> {
    fn torn(&self, why: impl Into<String>) -> Fail {
        Fail::Torn(why.into())
    }

    fn page(&mut self, id: u64) -> std::result::Result<Vec<u8>, Fail> {
        if id < 2 || id >= self.meta.high {
            return Err(self.torn(format!("page {id} is out of range")));
        }
        self.budget = self
            .budget
            .checked_sub(1)
            .ok_or_else(|| self.torn("too many pages: the tree has a cycle"))?;
        let ps = self.meta.page_size;
        let mut head = [0u8; PAGE_HEADER];
        self.file
            .read_exact_at(&mut head, id * ps)
            .map_err(|e| self.read_failed(e))?;
        if u64_at(&head, 0) != Some(id) {
            return Err(self.torn(format!("page {id} has another id")));
        }
        let overflow = u64::from(u32_at(&head, 12).unwrap_or(0));
        if id + overflow >= self.meta.high {
            return Err(self.torn(format!("page {id} overflows the file")));
        }
        let len = usize::try_from((overflow + 1) * ps).map_err(|_| self.torn("page too large"))?;
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, id * ps)
            .map_err(|e| self.read_failed(e))?;
        (self.after_page)(id);
        Ok(buf)
    }

    /// A page past the end of the file belongs to a newer transaction than the one read (the
    /// file grows before its meta page is written): torn. Anything else is a real I/O error.
    fn read_failed(&self, e: std::io::Error) -> Fail {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            self.torn("a page lies past the end of the file")
        } else {
            Fail::Hard(Error::io("reading", self.path, e))
        }
    }

    /// Loads a whole bucket rooted at page `root`, or inline in `inline`.
    fn bucket(
        &mut self,
        root: u64,
        inline: Option<&[u8]>,
        depth: usize,
    ) -> std::result::Result<Bucket, Fail> {
        if depth > MAX_DEPTH {
            return Err(self.torn("buckets nested too deep"));
        }
        let mut out = Bucket::default();
        match inline {
            Some(page) => self.node(page, &mut out, depth, true)?,
            None => {
                let page = self.page(root)?;
                self.node(&page, &mut out, depth, false)?;
            }
        }
        Ok(out)
    }

    fn node(
        &mut self,
        page: &[u8],
        out: &mut Bucket,
        depth: usize,
        inline: bool,
    ) -> std::result::Result<(), Fail> {
        let bad = |what: &str| Fail::Torn(format!("malformed {what} page"));
        let flags = u16_at(page, 8).ok_or_else(|| bad("short"))?;
        let count = usize::from(u16_at(page, 10).ok_or_else(|| bad("short"))?);
        for i in 0..count {
            let at = PAGE_HEADER + i * ELEMENT;
            if flags & BRANCH != 0 && !inline {
                let child = u64_at(page, at + 8).ok_or_else(|| bad("branch"))?;
                let child_page = self.page(child)?;
                self.node(&child_page, out, depth, false)?;
            } else if flags & LEAF != 0 {
                let eflags = u32_at(page, at).ok_or_else(|| bad("leaf"))?;
                let pos = u32_at(page, at + 4).ok_or_else(|| bad("leaf"))? as usize;
                let ksize = u32_at(page, at + 8).ok_or_else(|| bad("leaf"))? as usize;
                let vsize = u32_at(page, at + 12).ok_or_else(|| bad("leaf"))? as usize;
                let kstart = at.checked_add(pos).ok_or_else(|| bad("leaf"))?;
                let key = page
                    .get(kstart..kstart + ksize)
                    .ok_or_else(|| bad("leaf"))?
                    .to_vec();
                let value = page
                    .get(kstart + ksize..kstart + ksize + vsize)
                    .ok_or_else(|| bad("leaf"))?;
                if eflags & BUCKET_LEAF != 0 {
                    let root = u64_at(value, 0).ok_or_else(|| bad("bucket"))?;
                    let sub = if root == 0 {
                        let inline_page = value.get(16..).ok_or_else(|| bad("inline bucket"))?;
                        self.bucket(0, Some(inline_page), depth + 1)?
                    } else {
                        self.bucket(root, None, depth + 1)?
                    };
                    out.buckets.insert(key, sub);
                } else {
                    out.values.insert(key, value.to_vec());
                }
            } else {
                return Err(bad("unknown"));
            }
        }
        Ok(())
    }
}

fn read_meta(file: &File, path: &Path) -> Result<Option<Meta>> {
    let mut first = vec![0u8; 4096];
    let n = read_upto(file, &mut first, 0).map_err(|e| Error::io("reading", path, e))?;
    first.truncate(n);
    let m0 = first.get(PAGE_HEADER..).and_then(parse_meta);
    let mut candidates: Vec<u64> = m0.map(|m| vec![m.page_size]).unwrap_or_default();
    candidates.extend([4096, 8192, 16384, 32768, 65536]);
    let mut m1 = None;
    for ps in candidates {
        let mut buf = vec![0u8; 128];
        let n = read_upto(file, &mut buf, ps).map_err(|e| Error::io("reading", path, e))?;
        if let Some(m) = buf.get(PAGE_HEADER..n).and_then(parse_meta)
            && m.page_size == ps
        {
            m1 = Some(m);
            break;
        }
    }
    Ok(match (m0, m1) {
        (Some(a), Some(b)) => Some(if b.txid > a.txid { b } else { a }),
        (a, b) => a.or(b),
    })
}

fn read_upto(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Opens a bbolt file for reading, with a message that suggests sudo when it is not readable.
///
/// # Errors
/// The file cannot be opened.
pub fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| crate::stack::engine::file_error(path, e))
}

/// Reads the whole tree of a bbolt file into memory (the root bucket), consistently even while
/// its owner writes to it.
///
/// # Errors
/// The file cannot be read, is not a bbolt file, or kept changing under us ("try again").
pub fn read_tree(path: &Path) -> Result<Bucket> {
    read_tree_counted(path).map(|(tree, _)| tree)
}

/// [`read_tree`], also telling how many torn reads were detected and retried.
///
/// A read is torn when the writer commits while we read: bbolt may then reuse, two commits
/// later, a page of the tree we started from. The newest valid meta page (its txid and
/// checksum) is read before and after the tree; a tree is returned only when no commit came
/// between, and nothing is ever returned from a read that saw a page out of place.
///
/// # Errors
/// As [`read_tree`].
pub fn read_tree_counted(path: &Path) -> Result<(Bucket, usize)> {
    read_tree_hooked(path, &mut |_, _| {})
}

/// [`read_tree_counted`] with `after_page(attempt, page)` called after every page read.
fn read_tree_hooked(
    path: &Path,
    after_page: &mut dyn FnMut(usize, u64),
) -> Result<(Bucket, usize)> {
    let file = open(path)?;
    let mut last = String::new();
    let mut ever_valid = false;
    // Whether a commit was seen during the reads: a busy file, not a corrupt one.
    let mut changing = false;
    let mut previous: Option<Meta> = None;
    for attempt in 0..ATTEMPTS {
        // Both meta pages can be unreadable for a moment only if the writer is mid-write on
        // one while the other is garbage; a file without a valid one after every attempt is
        // not a bbolt file.
        let Some(meta) = read_meta(&file, path)? else {
            last = "no valid meta page".into();
            std::thread::sleep(std::time::Duration::from_millis(20));
            continue;
        };
        ever_valid = true;
        changing |= previous.is_some_and(|p| p != meta);
        previous = Some(meta);
        let size = file
            .metadata()
            .map_err(|e| Error::io("reading", path, e))?
            .len();
        let mut hook = |page| after_page(attempt, page);
        let mut reader = Reader {
            file: &file,
            path,
            meta,
            budget: size / meta.page_size + 16,
            after_page: &mut hook,
        };
        let result = reader.bucket(meta.root, None, 0);
        let again = read_meta(&file, path)?;
        changing |= again != Some(meta);
        match result {
            Ok(tree) if again == Some(meta) => return Ok((tree, attempt)),
            Ok(_) => last = "the file changed while being read".into(),
            Err(Fail::Torn(_)) if again != Some(meta) => {
                last = "the file changed while being read".into();
            }
            Err(Fail::Torn(why)) => last = why,
            Err(Fail::Hard(e)) => return Err(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if !ever_valid || !changing {
        return Err(not_bolt(path, &last));
    }
    Err(Error::BadInput(format!(
        "'{}' kept changing while being read ({ATTEMPTS} attempts, last: {last}): its owner is \
         busy writing it; try again",
        crate::escape::path(path)
    )))
}

fn not_bolt(path: &Path, why: &str) -> Error {
    Error::BadInput(format!(
        "'{}' cannot be read as a bbolt database: {why}",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes meta page `id` (0 or 1) of a file of 6 pages of `ps` bytes.
    fn meta(file: &mut [u8], ps: usize, id: usize, txid: u64, root: u64) {
        let at = id * ps;
        file[at..at + 8].copy_from_slice(&(id as u64).to_le_bytes());
        file[at + 8..at + 10].copy_from_slice(&0x04u16.to_le_bytes());
        let b = at + PAGE_HEADER;
        file[b..b + 4].copy_from_slice(&MAGIC.to_le_bytes());
        file[b + 4..b + 8].copy_from_slice(&2u32.to_le_bytes());
        file[b + 8..b + 12].copy_from_slice(&(ps as u32).to_le_bytes());
        file[b + 16..b + 24].copy_from_slice(&root.to_le_bytes());
        file[b + 32..b + 40].copy_from_slice(&2u64.to_le_bytes());
        file[b + 40..b + 48].copy_from_slice(&6u64.to_le_bytes());
        file[b + 48..b + 56].copy_from_slice(&txid.to_le_bytes());
        let sum = fnv1a64(&file[b..b + 56]);
        file[b + 56..b + 64].copy_from_slice(&sum.to_le_bytes());
    }

    /// A leaf page: elements, then key/value data.
    fn leaf(id: u64, items: &[(u32, &[u8], Vec<u8>)]) -> Vec<u8> {
        let mut p = vec![0u8; PAGE_HEADER + items.len() * ELEMENT];
        p[0..8].copy_from_slice(&id.to_le_bytes());
        p[8..10].copy_from_slice(&LEAF.to_le_bytes());
        p[10..12].copy_from_slice(&(items.len() as u16).to_le_bytes());
        for (i, (flags, k, v)) in items.iter().enumerate() {
            let at = PAGE_HEADER + i * ELEMENT;
            let pos = (p.len() - at) as u32;
            p[at..at + 4].copy_from_slice(&flags.to_le_bytes());
            p[at + 4..at + 8].copy_from_slice(&pos.to_le_bytes());
            p[at + 8..at + 12].copy_from_slice(&(k.len() as u32).to_le_bytes());
            p[at + 12..at + 16].copy_from_slice(&(v.len() as u32).to_le_bytes());
            p.extend_from_slice(k);
            p.extend_from_slice(v);
        }
        p
    }

    /// Builds a tiny bbolt file by hand: meta pages, a root leaf with one inline sub-bucket and
    /// one sub-bucket on its own page.
    fn build(ps: usize) -> Vec<u8> {
        let mut file = vec![0u8; ps * 6];
        // Page 4: bucket "big" with key "id" = uvarint 300.
        let big = leaf(4, &[(0, b"id", vec![0xac, 0x02])]);
        // Inline bucket "small" with "k" = "v".
        let mut small = vec![0u8; 16];
        small.extend(leaf(0, &[(0, b"k", b"v".to_vec())]));
        let mut big_hdr = 4u64.to_le_bytes().to_vec();
        big_hdr.extend([0u8; 8]);
        // Page 3: root leaf.
        let root = leaf(
            3,
            &[
                (BUCKET_LEAF, b"big", big_hdr),
                (0, b"plain", b"x".to_vec()),
                (BUCKET_LEAF, b"small", small),
            ],
        );
        // Page 5: a branch page whose only child is page 3 (so the root can be 3 or 5).
        let mut branch = vec![0u8; PAGE_HEADER + ELEMENT];
        branch[0..8].copy_from_slice(&5u64.to_le_bytes());
        branch[8..10].copy_from_slice(&BRANCH.to_le_bytes());
        branch[10..12].copy_from_slice(&1u16.to_le_bytes());
        branch[PAGE_HEADER + 8..PAGE_HEADER + 16].copy_from_slice(&3u64.to_le_bytes());
        file[3 * ps..3 * ps + root.len()].copy_from_slice(&root);
        file[4 * ps..4 * ps + big.len()].copy_from_slice(&big);
        file[5 * ps..5 * ps + branch.len()].copy_from_slice(&branch);
        meta(&mut file, ps, 0, 7, 3);
        meta(&mut file, ps, 1, 8, 5);
        file
    }

    #[test]
    fn a_commit_between_page_reads_is_detected_and_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let ps = 4096;
        std::fs::write(&path, build(ps)).unwrap();
        // While the reader is between page 3 (the root leaf, which points at page 4) and page
        // 4, the writer commits twice: txid 9 frees page 4, txid 10 reuses it for other data
        // and moves the root to page 2. Page 4 read now would mix two transactions.
        let mut writer = |attempt: usize, page: u64| {
            if attempt != 0 || page != 3 {
                return;
            }
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            use std::os::unix::fs::FileExt;
            f.write_all_at(&leaf(4, &[(0, b"id", vec![0xe7, 0x07])]), 4 * ps as u64)
                .unwrap();
            f.write_all_at(&leaf(2, &[(0, b"plain", b"z".to_vec())]), 2 * ps as u64)
                .unwrap();
            let mut metas = vec![0u8; 2 * ps];
            meta(&mut metas, ps, 0, 10, 2);
            meta(&mut metas, ps, 1, 9, 2);
            f.write_all_at(&metas, 0).unwrap();
        };
        let (tree, retries) = read_tree_hooked(&path, &mut writer).unwrap();
        assert_eq!(retries, 1, "the torn read was not retried");
        // Exactly the new state: never the old root's buckets with the new page 4's data.
        let mut want = Bucket::default();
        want.values.insert(b"plain".to_vec(), b"z".to_vec());
        assert_eq!(tree, want);
    }

    #[test]
    fn a_file_that_never_holds_still_is_try_again_and_a_corrupt_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let ps = 4096;
        std::fs::write(&path, build(ps)).unwrap();
        // A commit (a new txid) after every page read, forever.
        let mut txid = 8;
        let mut busy = |_: usize, _: u64| {
            txid += 1;
            let mut metas = vec![0u8; 2 * ps];
            meta(&mut metas, ps, 0, txid, 5);
            meta(&mut metas, ps, 1, txid - 1, 5);
            use std::os::unix::fs::FileExt;
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.write_all_at(&metas, 0).unwrap();
        };
        let e = read_tree_hooked(&path, &mut busy).unwrap_err().to_string();
        assert!(
            e.contains("kept changing") && e.contains("try again"),
            "{e}"
        );
        // A file that holds still but whose tree is broken is not "busy".
        let mut f = build(ps);
        f[3 * ps + 8..3 * ps + 10].copy_from_slice(&0x40u16.to_le_bytes());
        std::fs::write(&path, &f).unwrap();
        let e = read_tree(&path).unwrap_err().to_string();
        assert!(e.contains("cannot be read as a bbolt database"), "{e}");
    }

    #[test]
    fn reads_nested_inline_and_paged_buckets_through_a_branch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        std::fs::write(&path, build(4096)).unwrap();
        let tree = read_tree(&path).unwrap();
        assert_eq!(tree.get(b"plain"), Some(&b"x"[..]));
        assert_eq!(tree.at(&[b"big"]).unwrap().uvarint(b"id"), Some(300));
        assert_eq!(
            tree.at(&[b"small"]).unwrap().text(b"k").as_deref(),
            Some("v")
        );
    }

    #[test]
    fn a_corrupt_meta_falls_back_to_the_other_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut f = build(4096);
        f[4096 + PAGE_HEADER + 50] ^= 0xff; // break meta 1's checksum
        std::fs::write(&path, &f).unwrap();
        assert!(read_tree(&path).unwrap().buckets.contains_key(&b"big"[..]));
        std::fs::write(&path, vec![0x5a; 9000]).unwrap();
        assert!(read_tree(&path).is_err());
        // A root pointing at itself through a branch is refused, not looped on.
        let mut f = build(4096);
        let at = 5 * 4096 + PAGE_HEADER + 8;
        f[at..at + 8].copy_from_slice(&5u64.to_le_bytes());
        std::fs::write(&path, &f).unwrap();
        assert!(read_tree(&path).is_err());
    }

    #[test]
    fn varints_decode_like_go() {
        assert_eq!(uvarint(&[0xac, 0x02]), Some((300, 2)));
        let mut b = Bucket::default();
        b.values.insert(b"n".to_vec(), vec![0x03]);
        assert_eq!(b.varint(b"n"), Some(-2));
    }
}
