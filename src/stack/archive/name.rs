//! Parsing an archive name: `docker-archive:FILE[:IMAGE]`, `oci:DIR[:REF]`,
//! `oci-archive:FILE[:REF]`, the transports' names as skopeo and podman spell them.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// How the image travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `docker save` / `podman save` output: a tar with `manifest.json`.
    DockerArchive,
    /// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/`).
    OciDir,
    /// A tar of an OCI image layout.
    OciArchive,
}

impl Transport {
    /// The prefix the user types.
    #[must_use]
    pub fn prefix(self) -> &'static str {
        match self {
            Transport::DockerArchive => "docker-archive",
            Transport::OciDir => "oci",
            Transport::OciArchive => "oci-archive",
        }
    }
}

/// An archive name, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveName {
    /// Which kind of archive.
    pub transport: Transport,
    /// The file or directory.
    pub path: PathBuf,
    /// The image inside it: a tag, a ref name, `@N` (the N-th image of a `docker save` file).
    pub reference: Option<String>,
}

/// Splits `spec` when it names an archive; `None` when it has none of the prefixes.
///
/// The path comes first and may itself hold `:`: the longest prefix that exists on disk is the
/// path (all of it first), and what follows the next `:` is the reference, as skopeo reads it.
#[must_use]
pub fn parse(spec: &[u8]) -> Option<Result<ArchiveName>> {
    let (prefix, rest) = split_at_colon(spec)?;
    let transport = match prefix {
        b"docker-archive" => Transport::DockerArchive,
        b"oci" => Transport::OciDir,
        b"oci-archive" => Transport::OciArchive,
        _ => return None,
    };
    Some(split_path(transport, rest))
}

fn split_at_colon(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&b| b == b':')?;
    Some((&s[..i], &s[i + 1..]))
}

fn split_path(transport: Transport, rest: &[u8]) -> Result<ArchiveName> {
    let what = match transport {
        Transport::OciDir => "DIR",
        _ => "FILE",
    };
    if rest.is_empty() {
        return Err(Error::BadInput(format!(
            "'{}:' names no {}: write {}:{what}[:{}]",
            transport.prefix(),
            what.to_lowercase(),
            transport.prefix(),
            reference_word(transport)
        )));
    }
    let exists = |p: &[u8]| std::fs::symlink_metadata(OsStr::from_bytes(p)).is_ok();
    if exists(rest) {
        return Ok(ArchiveName {
            transport,
            path: PathBuf::from(OsStr::from_bytes(rest)),
            reference: None,
        });
    }
    for (i, _) in rest.iter().enumerate().filter(|&(_, &b)| b == b':') {
        let (path, reference) = (&rest[..i], &rest[i + 1..]);
        if !path.is_empty() && exists(path) {
            let reference = std::str::from_utf8(reference).map_err(|_| {
                Error::BadInput(format!(
                    "the image reference '{}' is not UTF-8: image names are",
                    crate::escape::display(reference)
                ))
            })?;
            return Ok(ArchiveName {
                transport,
                path: PathBuf::from(OsStr::from_bytes(path)),
                reference: (!reference.is_empty()).then(|| reference.to_string()),
            });
        }
    }
    let path = rest.split(|&b| b == b':').next().unwrap_or(rest);
    Err(Error::BadInput(format!(
        "{} '{}' does not exist: check the path ({}:{what}[:{}])",
        match transport {
            Transport::OciDir => "OCI layout directory",
            Transport::OciArchive => "OCI archive",
            Transport::DockerArchive => "docker archive",
        },
        crate::escape::display(path),
        transport.prefix(),
        reference_word(transport),
    )))
}

fn reference_word(transport: Transport) -> &'static str {
    match transport {
        Transport::DockerArchive => "IMAGE",
        _ => "REF",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_existing_prefix_is_the_path_and_the_rest_the_reference() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("a:b.tar");
        std::fs::write(&file, b"").expect("write");
        let spec = |s: String| parse(s.as_bytes()).expect("an archive name");
        let name = spec(format!("docker-archive:{}", file.display())).expect("parse");
        assert_eq!((name.path.clone(), name.reference), (file.clone(), None));
        let name = spec(format!("docker-archive:{}:web:1.2", file.display())).expect("parse");
        assert_eq!(name.path, file);
        assert_eq!(name.reference.as_deref(), Some("web:1.2"));
        assert_eq!(name.transport, Transport::DockerArchive);
        let name = spec(format!("oci:{}:latest", tmp.path().display())).expect("parse");
        assert_eq!(
            (name.transport, name.reference.as_deref()),
            (Transport::OciDir, Some("latest"))
        );
    }

    #[test]
    fn other_prefixes_are_not_archives_and_bad_names_say_what_to_type() {
        assert!(parse(b"docker:web").is_none());
        assert!(parse(b"/mnt/merged").is_none());
        let err = parse(b"oci-archive:").expect("archive").expect_err("empty");
        assert!(err.to_string().contains("oci-archive:FILE[:REF]"), "{err}");
        let err = parse(b"docker-archive:/no/such.tar:web")
            .expect("archive")
            .expect_err("missing");
        assert!(
            err.to_string().contains("'/no/such.tar' does not exist"),
            "{err}"
        );
    }
}
