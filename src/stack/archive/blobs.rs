//! Where an image's files are: an OCI layout directory, or the members of a tar (`docker save`
//! output, an OCI archive). Read only: small JSON records whole, layer blobs as byte ranges.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::fsio::tar::BlobSource;

/// The largest JSON record read (a manifest, an index, an image config): real ones are a few
/// KiB; a hostile archive must not make us allocate its size.
const RECORD_LIMIT: u64 = 16 << 20;

/// An image's files.
#[derive(Debug)]
pub enum Blobs {
    /// An OCI layout directory.
    Dir {
        /// The directory.
        root: PathBuf,
    },
    /// The members of an uncompressed tar.
    Tar {
        /// The tar file.
        path: PathBuf,
        /// It, open.
        file: Arc<File>,
        /// Member name (normalised: no leading `./`) -> (data offset, size); a later member of
        /// the same name wins, as `tar -x` would leave it.
        members: HashMap<Vec<u8>, (u64, u64)>,
    },
}

impl Blobs {
    /// An OCI layout directory.
    ///
    /// # Errors
    /// It is not a directory.
    pub fn dir(root: &Path) -> Result<Blobs> {
        let meta = std::fs::metadata(root).map_err(|e| Error::io("opening", root, e))?;
        if !meta.is_dir() {
            return Err(Error::BadInput(format!(
                "'{}' is not a directory: oci: names an OCI image layout directory (for a tar of \
                 one, write oci-archive:)",
                crate::escape::path(root)
            )));
        }
        Ok(Blobs::Dir {
            root: std::path::absolute(root).map_err(|e| Error::io("resolving", root, e))?,
        })
    }

    /// The members of the tar at `path`.
    ///
    /// # Errors
    /// It cannot be read, is compressed, or is not a tar.
    pub fn tar(path: &Path) -> Result<Blobs> {
        let file = File::open(path).map_err(|e| Error::io("opening archive", path, e))?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(Error::BadInput(format!(
                "'{}' is a directory: docker-archive: and oci-archive: name a tar file (for an \
                 OCI image layout directory, write oci:DIR)",
                crate::escape::path(path)
            )));
        }
        let path = std::path::absolute(path).map_err(|e| Error::io("resolving", path, e))?;
        let listed = crate::fsio::tar::outer_members(&file).map_err(|e| {
            Error::BadInput(format!(
                "archive '{}' cannot be read as a tar: {e}",
                crate::escape::path(&path)
            ))
        })?;
        let members = listed
            .into_iter()
            .map(|m| (normalise(&m.name), (m.offset, m.size)))
            .collect();
        Ok(Blobs::Tar {
            path,
            file: Arc::new(file),
            members,
        })
    }

    /// Where the image is, for messages and layer paths.
    #[must_use]
    pub fn root(&self) -> &Path {
        match self {
            Blobs::Dir { root } => root,
            Blobs::Tar { path, .. } => path,
        }
    }

    /// The path of `name` as shown to the user: `DIR/name`, or `FILE/name` for a member.
    #[must_use]
    pub fn shown(&self, name: &str) -> PathBuf {
        self.root().join(name)
    }

    /// Whether `name` is there.
    #[must_use]
    pub fn has(&self, name: &str) -> bool {
        match self {
            Blobs::Dir { .. } => self.source(name).is_ok(),
            Blobs::Tar { members, .. } => members.contains_key(name.as_bytes()),
        }
    }

    /// The bytes of `name` as a range of a file.
    ///
    /// # Errors
    /// It is missing, or (in a directory) not a regular file reachable without symlinks.
    pub fn source(&self, name: &str) -> Result<BlobSource> {
        match self {
            Blobs::Dir { root } => {
                let file = open_beneath(root, name)?;
                let len = file
                    .metadata()
                    .map_err(|e| Error::io("reading", root.join(name), e))?
                    .len();
                Ok(BlobSource::new(Arc::new(file), 0, len))
            }
            Blobs::Tar {
                path,
                file,
                members,
            } => {
                let &(offset, len) = members.get(name.as_bytes()).ok_or_else(|| {
                    Error::BadInput(format!(
                        "archive '{}' has no member '{}' (the image's records name it): the \
                         archive is incomplete",
                        crate::escape::path(path),
                        crate::escape::display(name.as_bytes())
                    ))
                })?;
                Ok(BlobSource::new(Arc::clone(file), offset, len))
            }
        }
    }

    /// What identifies the bytes of `name` on disk now (device, inode, size, mtime): the
    /// archive file for a member, the blob file in a layout; `None` when it cannot be read.
    #[must_use]
    pub fn stamp(&self, name: &str) -> Option<(u64, u64, i64, i64)> {
        use std::os::unix::fs::MetadataExt;
        let path = match self {
            Blobs::Dir { root } => root.join(name),
            Blobs::Tar { path, .. } => path.clone(),
        };
        let m = std::fs::symlink_metadata(path).ok()?;
        Some((
            m.dev(),
            m.ino(),
            m.size() as i64,
            m.mtime_nsec() + m.mtime() * 1_000_000_000,
        ))
    }

    /// Reads and parses the JSON record `name`; when `digest` is given, the record's bytes must
    /// have it (a manifest's, a config's).
    ///
    /// # Errors
    /// It is missing, too large, not the JSON expected, or not the bytes its digest promises.
    pub fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        digest: Option<&str>,
    ) -> Result<T> {
        let shown = self.shown(name);
        let source = self.source(name)?;
        if source.len() > RECORD_LIMIT {
            return Err(Error::BadInput(format!(
                "'{}' is {} bytes: too large for an image record (at most {RECORD_LIMIT}); the \
                 archive is not an image",
                crate::escape::path(&shown),
                source.len()
            )));
        }
        let bytes = source
            .read_all()
            .map_err(|e| Error::io("reading", &shown, e))?;
        if let Some(want) = digest {
            let have = sha256_of(&bytes);
            if have != want {
                return Err(Error::BadInput(format!(
                    "'{}' has digest {have}, but the image's records say {}: the archive is \
                     damaged or was altered",
                    crate::escape::path(&shown),
                    crate::escape::display(want.as_bytes())
                )));
            }
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::BadInput(format!(
                "'{}' is not a valid image record: {e}",
                crate::escape::path(&shown)
            ))
        })
    }
}

/// `sha256:<hex>` of `bytes`.
#[must_use]
pub fn sha256_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for b in Sha256::digest(bytes) {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// `./a/b` and `a/b` name the same member.
fn normalise(name: &[u8]) -> Vec<u8> {
    let mut n = name;
    while let Some(rest) = n.strip_prefix(b"./") {
        n = rest;
    }
    n.strip_suffix(b"/").unwrap_or(n).to_vec()
}

/// Opens `name` (a relative path of plain components) under `root` without following any
/// symlink and without leaving `root`: a layout's `blobs` must not lead elsewhere on the host.
fn open_beneath(root: &Path, name: &str) -> Result<File> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let shown = root.join(name);
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("opening", root, e))?;
    let open = |flags: OFlags| {
        rustix::fs::openat2(
            &dir,
            name.as_bytes(),
            flags | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
    };
    // O_NOATIME is refused for files of other owners without CAP_FOWNER: then read plainly.
    let fd = open(OFlags::NOATIME)
        .or_else(|_| open(OFlags::empty()))
        .map_err(|e| match e {
            rustix::io::Errno::NOENT => Error::BadInput(format!(
                "'{}' is missing (the layout's records name it): the layout is incomplete",
                crate::escape::path(&shown)
            )),
            rustix::io::Errno::LOOP | rustix::io::Errno::XDEV => Error::BadInput(format!(
                "'{}' is reached through a symlink: layerscope reads an image layout's blobs \
                 only as plain files inside it",
                crate::escape::path(&shown)
            )),
            e => Error::io("opening", &shown, e),
        })?;
    let file = File::from(fd);
    let meta = file
        .metadata()
        .map_err(|e| Error::io("reading", &shown, e))?;
    if !meta.is_file() {
        return Err(Error::BadInput(format!(
            "'{}' is not a regular file",
            crate::escape::path(&shown)
        )));
    }
    Ok(file)
}

/// The name of the blob with `digest` (`sha256:HEX`) in a layout: `blobs/sha256/HEX`.
///
/// # Errors
/// Not a sha256 digest of 64 hex digits (a digest is never a path).
pub fn blob_name(digest: &str, record: &Path) -> Result<String> {
    match digest.split_once(':') {
        Some(("sha256", hex)) if hex.len() == 64 && crate::stack::engine::is_hex(hex) => {
            Ok(format!("blobs/sha256/{hex}"))
        }
        _ => Err(Error::BadInput(format!(
            "'{}' names a blob by '{}': not a sha256 digest (sha256:<64 hex digits>)",
            crate::escape::path(record),
            crate::escape::display(digest.as_bytes())
        ))),
    }
}
