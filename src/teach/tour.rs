//! The guided tour as data: steps, the real operation each runs through the merged mount, what
//! the kernel did, and the on-disk evidence, checked by reading the layer directories.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::sample::{self, APPENDED, DOC_README, NOTES, SERVER_SIZE};
use super::{Demo, Live, sandbox};
use crate::error::{Error, Result};
use crate::escape;
use crate::fsio::{self, LayerRoot};
use crate::merge::FileKind;

/// Which operation a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    /// Read a lower file: no copy-up.
    Read,
    /// Append to it: copy-up.
    Append,
    /// Delete a lower file: a whiteout.
    Delete,
    /// `rm -rf` and recreate a lower directory: an opaque directory.
    ReplaceDir,
    /// Rename a lower directory: a redirect, or EXDEV.
    RenameDir,
    /// chmod a lower file: a metadata-only copy-up (or a full one).
    Chmod,
    /// Create a new file: upper only.
    Create,
}

/// One fact about the layer directories that a step claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// Nothing exists at `rel` in layer `layer`.
    Absent {
        /// Stack index (0 is the upper layer).
        layer: usize,
        /// Path inside the layer.
        rel: String,
    },
    /// A regular file at `rel` holding exactly `bytes`.
    File {
        /// Stack index.
        layer: usize,
        /// Path inside the layer.
        rel: String,
        /// Its expected content.
        bytes: Vec<u8>,
    },
    /// A char 0/0 device at `rel`: a whiteout.
    Whiteout {
        /// Stack index.
        layer: usize,
        /// Path inside the layer.
        rel: String,
    },
    /// The overlay xattr `<ns>.overlay.<name>` at `rel` has this value.
    Xattr {
        /// Stack index.
        layer: usize,
        /// Path inside the layer.
        rel: String,
        /// The xattr name after `<ns>.overlay.`.
        name: &'static str,
        /// Its expected value.
        value: Vec<u8>,
    },
    /// The overlay xattr `<ns>.overlay.<name>` is not set at `rel` (which exists).
    NoXattr {
        /// Stack index.
        layer: usize,
        /// Path inside the layer.
        rel: String,
        /// The xattr name after `<ns>.overlay.`.
        name: &'static str,
    },
    /// The directory at `rel` holds exactly these names.
    DirHolds {
        /// Stack index.
        layer: usize,
        /// Path inside the layer.
        rel: String,
        /// The names, sorted.
        names: Vec<String>,
    },
    /// A metacopy file: the metacopy xattr, `st_size == size`, and no data blocks.
    Metacopy {
        /// Stack index.
        layer: usize,
        /// Path inside the layer.
        rel: String,
        /// The size it reports.
        size: u64,
    },
    /// The permission bits at `rel`.
    Mode {
        /// Stack index.
        layer: usize,
        /// Path inside the layer.
        rel: String,
        /// `st_mode & 0o7777`.
        mode: u32,
    },
    /// No lower layer holds `rel`.
    NowhereBelow {
        /// Path inside the layers.
        rel: String,
    },
    /// The operation (or, with `contrast`, the contrasting attempt) failed with `errno`.
    Refused {
        /// The expected error number.
        errno: i32,
        /// Whether this is about the contrasting attempt.
        contrast: bool,
    },
}

/// A fact and what it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// What is on disk.
    pub fact: Fact,
    /// What it means, in a few words.
    pub meaning: String,
}

/// One step of the tour.
#[derive(Debug, Clone)]
pub struct Step {
    /// Which operation.
    pub kind: StepKind,
    /// A short title.
    pub title: &'static str,
    /// The operation as a shell command (it is run with system calls, not a shell).
    pub command: String,
    /// Two or three sentences on what the kernel does.
    pub explanation: String,
    /// The merged paths the step is about; the first is the one to select in a tree.
    pub paths: Vec<String>,
    /// What to point at on disk afterwards.
    pub evidence: Vec<Evidence>,
}

/// What an operation returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// It succeeded; `output` is what it printed (a read's content), often empty.
    Done {
        /// Output, if any.
        output: String,
    },
    /// It failed.
    Failed {
        /// The error number.
        errno: i32,
        /// The error in words.
        message: String,
    },
}

impl OpResult {
    fn from_io(r: io::Result<String>) -> Self {
        match r {
            Ok(output) => OpResult::Done { output },
            Err(e) => OpResult::Failed {
                errno: e.raw_os_error().unwrap_or(0),
                message: e.to_string(),
            },
        }
    }

    /// A short summary: "ok", or "failed: Invalid cross-device link (os error 18) \[EXDEV\]".
    #[must_use]
    pub fn summary(&self) -> String {
        match self {
            OpResult::Done { .. } => "ok".into(),
            OpResult::Failed { errno, message } => {
                format!(
                    "failed: {message}{}",
                    errno_name(*errno)
                        .map(|n| format!(" [{n}]"))
                        .unwrap_or_default()
                )
            }
        }
    }
}

/// One evidence item after checking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The evidence.
    pub evidence: Evidence,
    /// The claim in words, with full on-disk paths.
    pub claim: String,
    /// Whether the disk agrees.
    pub ok: bool,
    /// What was found instead, when it does not.
    pub found: String,
}

/// What running a step did.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    /// The step's index.
    pub index: usize,
    /// The operation's result.
    pub result: OpResult,
    /// A contrasting attempt (the rename on a mount without `redirect_dir`): what and result.
    pub contrast: Option<(String, OpResult)>,
    /// The evidence, checked against the layer directories.
    pub checks: Vec<Check>,
}

impl StepOutcome {
    /// Whether every piece of evidence was found.
    #[must_use]
    pub fn all_ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

/// The tour: its steps, in order, and the outcomes of those already run.
#[derive(Debug, Clone)]
pub struct Tour {
    steps: Vec<Step>,
    outcomes: Vec<StepOutcome>,
}

impl Tour {
    /// The tour for this demo. Explanations and evidence depend on the mount: a privileged
    /// mount shows redirects and metacopy; a `userxattr` mount shows why they are refused.
    #[must_use]
    pub fn new(demo: &Demo) -> Tour {
        Tour {
            steps: steps(demo),
            outcomes: Vec::new(),
        }
    }

    /// The steps, in order.
    #[must_use]
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The outcomes of the steps run so far, in order.
    #[must_use]
    pub fn outcomes(&self) -> &[StepOutcome] {
        &self.outcomes
    }

    /// The index of the next step to run, if any remains.
    #[must_use]
    pub fn next_index(&self) -> Option<usize> {
        (self.outcomes.len() < self.steps.len()).then_some(self.outcomes.len())
    }

    /// Runs the next step through the merged mount and checks its evidence. Steps run in order
    /// because later evidence assumes earlier steps (the upper layer starts empty).
    ///
    /// # Errors
    /// The demo is not mounted (the message says why), or every step has run.
    pub fn run_next(&mut self, demo: &Demo) -> Result<&StepOutcome> {
        if let Live::Off { why } = &demo.live {
            return Err(Error::BadInput(format!(
                "the live tour is off because nothing could be mounted: {why}"
            )));
        }
        let Some(index) = self.next_index() else {
            return Err(Error::BadInput(
                "the tour is over: every step has run".into(),
            ));
        };
        let step = &self.steps[index];
        let (result, contrast) = run_operation(demo, step.kind);
        let checks = step
            .evidence
            .iter()
            .map(|e| check(demo, e, &result, contrast.as_ref().map(|(_, r)| r)))
            .collect();
        self.outcomes.push(StepOutcome {
            index,
            result,
            contrast,
            checks,
        });
        Ok(&self.outcomes[index])
    }
}

fn ev(fact: Fact, meaning: impl Into<String>) -> Evidence {
    Evidence {
        fact,
        meaning: meaning.into(),
    }
}

fn steps(demo: &Demo) -> Vec<Step> {
    let ns = demo.xattr_namespace().prefix();
    let privileged = demo.has_redirect_and_metacopy()
        || (matches!(demo.live, Live::Off { .. })
            && demo.xattr_namespace() == crate::stack::XattrNamespace::Trusted);
    let base = demo.layer_index("1-base").unwrap_or(3);
    let packages = demo.layer_index("2-packages").unwrap_or(2);
    let app = demo.layer_index("3-app").unwrap_or(1);
    let os_release = sample::content("1-base", "etc/os-release").unwrap_or_default();
    let mut appended = os_release.clone();
    appended.extend_from_slice(APPENDED.as_bytes());
    let server = sample::content("3-app", "srv/app/server").unwrap_or_default();
    let s = |x: &str| x.to_string();

    let rename = if privileged {
        Step {
            kind: StepKind::RenameDir,
            title: "Rename a lower directory: a redirect",
            command: s("mv /srv/app/static /srv/app/public"),
            explanation: format!(
                "A rename cannot move the lower copy of a directory. With redirect_dir=on the \
                 kernel copies up only the directory itself, under the new name, and records \
                 where its contents really are in {ns}redirect; the old name gets a whiteout. On \
                 a mount without redirect_dir the same rename(2) fails with EXDEV, and mv falls \
                 back to copying the whole tree."
            ),
            paths: vec![s("/srv/app/public"), s("/srv/app/static")],
            evidence: vec![
                ev(
                    Fact::Xattr {
                        layer: 0,
                        rel: s("srv/app/public"),
                        name: "redirect",
                        value: b"static".to_vec(),
                    },
                    "the new directory sends lookups to the old name in the layers below",
                ),
                ev(
                    Fact::DirHolds {
                        layer: 0,
                        rel: s("srv/app/public"),
                        names: vec![],
                    },
                    "no file was copied: they stay in lower/3-app",
                ),
                ev(
                    Fact::Whiteout {
                        layer: 0,
                        rel: s("srv/app/static"),
                    },
                    "the old name is deleted",
                ),
                ev(
                    Fact::Refused {
                        errno: libc::EXDEV,
                        contrast: true,
                    },
                    "without redirect_dir=on the kernel refuses the rename",
                ),
            ],
        }
    } else {
        Step {
            kind: StepKind::RenameDir,
            title: "Rename a lower directory: EXDEV without redirects",
            command: s("mv /srv/app/static /srv/app/public"),
            explanation: format!(
                "A rename cannot move the lower copy of a directory; it needs a redirect xattr \
                 ({ns}redirect) naming the old place. The kernel refuses redirect_dir=on on \
                 userxattr mounts, since an unprivileged user could forge redirects, so rename(2) \
                 fails with EXDEV and mv would copy the whole tree instead. Run the demo as root \
                 to see the redirect."
            ),
            paths: vec![s("/srv/app/static"), s("/srv/app/public")],
            evidence: vec![
                ev(
                    Fact::Refused {
                        errno: libc::EXDEV,
                        contrast: false,
                    },
                    "rename(2) is refused",
                ),
                ev(
                    Fact::Absent {
                        layer: 0,
                        rel: s("srv/app/public"),
                    },
                    "nothing was created under the new name",
                ),
                ev(
                    Fact::Absent {
                        layer: 0,
                        rel: s("srv/app/static"),
                    },
                    "the old name is not whited out",
                ),
            ],
        }
    };

    let chmod = if privileged {
        Step {
            kind: StepKind::Chmod,
            title: "chmod a lower file: a metadata-only copy-up",
            command: s("chmod 750 /srv/app/server"),
            explanation: format!(
                "A new mode must be stored in the upper layer too. With metacopy=on the kernel \
                 copies up only the inode: the upper file has the new mode and the full size but \
                 no data blocks, and {ns}metacopy tells lookups to read the data from the lower \
                 file. A later write would copy the data up."
            ),
            paths: vec![s("/srv/app/server")],
            evidence: vec![
                ev(
                    Fact::Metacopy {
                        layer: 0,
                        rel: s("srv/app/server"),
                        size: SERVER_SIZE as u64,
                    },
                    "the upper file is metadata only: its data was not copied",
                ),
                ev(
                    Fact::Mode {
                        layer: 0,
                        rel: s("srv/app/server"),
                        mode: 0o750,
                    },
                    "the upper file has the new mode",
                ),
                ev(
                    Fact::File {
                        layer: app,
                        rel: s("srv/app/server"),
                        bytes: server.clone(),
                    },
                    "the data is still only in the lower layer",
                ),
            ],
        }
    } else {
        Step {
            kind: StepKind::Chmod,
            title: "chmod a lower file: a full copy-up",
            command: s("chmod 750 /srv/app/server"),
            explanation: format!(
                "A new mode must be stored in the upper layer too. A privileged mount with \
                 metacopy=on would copy up only the inode ({ns}metacopy), but the kernel refuses \
                 metacopy on userxattr mounts, so all {} KiB of the file are copied just to change \
                 its mode. Run the demo as root to see a metadata-only copy-up.",
                SERVER_SIZE / 1024
            ),
            paths: vec![s("/srv/app/server")],
            evidence: vec![
                ev(
                    Fact::File {
                        layer: 0,
                        rel: s("srv/app/server"),
                        bytes: server.clone(),
                    },
                    "every byte was copied up",
                ),
                ev(
                    Fact::NoXattr {
                        layer: 0,
                        rel: s("srv/app/server"),
                        name: "metacopy",
                    },
                    "it is a full copy, not a metacopy",
                ),
                ev(
                    Fact::Mode {
                        layer: 0,
                        rel: s("srv/app/server"),
                        mode: 0o750,
                    },
                    "the upper file has the new mode",
                ),
            ],
        }
    };

    vec![
        Step {
            kind: StepKind::Read,
            title: "Read a lower file: no copy-up",
            command: s("cat /etc/os-release"),
            explanation: s(
                "The kernel looks the name up from the top layer down and finds it only in the \
                 base layer. Reads are served straight from that lower file: nothing is written \
                 anywhere, and the upper layer stays empty.",
            ),
            paths: vec![s("/etc/os-release")],
            evidence: vec![
                ev(
                    Fact::Absent {
                        layer: 0,
                        rel: s("etc/os-release"),
                    },
                    "nothing was copied up",
                ),
                ev(
                    Fact::File {
                        layer: base,
                        rel: s("etc/os-release"),
                        bytes: os_release.clone(),
                    },
                    "the file the read was served from",
                ),
            ],
        },
        Step {
            kind: StepKind::Append,
            title: "Append to it: copy-up",
            command: format!("echo '{}' >> /etc/os-release", APPENDED.trim_end()),
            explanation: s(
                "Opening a lower file for writing triggers a copy-up: the kernel creates /etc in \
                 the upper layer, copies the whole file there through the work directory (so the \
                 copy appears at once), and only then applies the write. From now on the upper \
                 copy shadows the lower one, which is never modified.",
            ),
            paths: vec![s("/etc/os-release")],
            evidence: vec![
                ev(
                    Fact::File {
                        layer: 0,
                        rel: s("etc/os-release"),
                        bytes: appended,
                    },
                    format!(
                        "the lower file's {} bytes, copied, then the {} appended",
                        os_release.len(),
                        APPENDED.len()
                    ),
                ),
                ev(
                    Fact::File {
                        layer: base,
                        rel: s("etc/os-release"),
                        bytes: os_release,
                    },
                    "the lower file is unchanged",
                ),
            ],
        },
        Step {
            kind: StepKind::Delete,
            title: "Delete a lower file: a whiteout",
            command: s("rm /usr/bin/curl"),
            explanation: s(
                "A lower layer cannot change, so the kernel records the deletion in the upper \
                 layer as a whiteout: a character device 0/0 with the deleted file's name. Lookups \
                 stop at it, so /usr/bin/curl is gone from the merged view while the packages \
                 layer still holds it. Image layers store deletions the same way.",
            ),
            paths: vec![s("/usr/bin/curl")],
            evidence: vec![
                ev(
                    Fact::Whiteout {
                        layer: 0,
                        rel: s("usr/bin/curl"),
                    },
                    "the deletion, recorded in the upper layer",
                ),
                ev(
                    Fact::File {
                        layer: packages,
                        rel: s("usr/bin/curl"),
                        bytes: sample::content("2-packages", "usr/bin/curl").unwrap_or_default(),
                    },
                    "the file is still in the lower layer",
                ),
                ev(
                    Fact::Whiteout {
                        layer: app,
                        rel: s("etc/motd"),
                    },
                    "the app layer deleted /etc/motd the same way",
                ),
            ],
        },
        Step {
            kind: StepKind::ReplaceDir,
            title: "rm -rf and recreate a lower directory: opaque",
            command: format!(
                "rm -rf /usr/share/doc && mkdir /usr/share/doc && echo '{}' > /usr/share/doc/README",
                DOC_README.trim_end()
            ),
            explanation: format!(
                "/usr/share/doc merges directories of two lower layers. rm -rf whites out each \
                 entry and then the directory; mkdir then puts a new directory in place of that \
                 whiteout and marks it opaque ({ns}opaque=y), so nothing below shows through and \
                 no whiteout per old file is needed."
            ),
            paths: vec![s("/usr/share/doc")],
            evidence: vec![
                ev(
                    Fact::Xattr {
                        layer: 0,
                        rel: s("usr/share/doc"),
                        name: "opaque",
                        value: b"y".to_vec(),
                    },
                    "the new directory hides every layer below",
                ),
                ev(
                    Fact::DirHolds {
                        layer: 0,
                        rel: s("usr/share/doc"),
                        names: vec![s("README")],
                    },
                    "only the new file, no whiteouts",
                ),
                ev(
                    Fact::Xattr {
                        layer: app,
                        rel: s("var/www/html"),
                        name: "opaque",
                        value: b"y".to_vec(),
                    },
                    "the app layer replaced /var/www/html the same way",
                ),
            ],
        },
        rename,
        chmod,
        Step {
            kind: StepKind::Create,
            title: "Create a new file: upper only",
            command: format!("echo '{}' > /root/notes.txt", NOTES.trim_end()),
            explanation: s(
                "A new file has no lower version, so it is created straight in the upper layer; \
                 only its parent /root is copied up first, as an empty directory. This is the \
                 container's own data: docker diff lists it as A.",
            ),
            paths: vec![s("/root/notes.txt")],
            evidence: vec![
                ev(
                    Fact::File {
                        layer: 0,
                        rel: s("root/notes.txt"),
                        bytes: NOTES.as_bytes().to_vec(),
                    },
                    "the new file, in the upper layer",
                ),
                ev(
                    Fact::NowhereBelow {
                        rel: s("root/notes.txt"),
                    },
                    "no image layer has it",
                ),
            ],
        },
    ]
}

/// Runs a step's operation through the merged mount.
fn run_operation(demo: &Demo, kind: StepKind) -> (OpResult, Option<(String, OpResult)>) {
    let m = |p: &str| demo.merged_path(p);
    let result = match kind {
        StepKind::Read => {
            std::fs::read(m("/etc/os-release")).map(|b| String::from_utf8_lossy(&b).into_owned())
        }
        StepKind::Append => std::fs::OpenOptions::new()
            .append(true)
            .open(m("/etc/os-release"))
            .and_then(|mut f| f.write_all(APPENDED.as_bytes()))
            .map(|()| String::new()),
        StepKind::Delete => std::fs::remove_file(m("/usr/bin/curl")).map(|()| String::new()),
        StepKind::ReplaceDir => std::fs::remove_dir_all(m("/usr/share/doc"))
            .and_then(|()| std::fs::create_dir(m("/usr/share/doc")))
            .and_then(|()| std::fs::write(m("/usr/share/doc/README"), DOC_README))
            .map(|()| String::new()),
        StepKind::RenameDir => {
            std::fs::rename(m("/srv/app/static"), m("/srv/app/public")).map(|()| String::new())
        }
        StepKind::Chmod => {
            std::fs::set_permissions(m("/srv/app/server"), std::fs::Permissions::from_mode(0o750))
                .map(|()| String::new())
        }
        StepKind::Create => std::fs::write(m("/root/notes.txt"), NOTES).map(|()| String::new()),
    };
    let contrast = (kind == StepKind::RenameDir && demo.has_redirect_and_metacopy()).then(|| {
        (
            "the same rename on a second mount of the same lower layers with redirect_dir=off"
                .to_string(),
            OpResult::from_io(rename_without_redirects(demo)),
        )
    });
    (OpResult::from_io(result), contrast)
}

/// Mounts the image layers again with a fresh upper and `redirect_dir=off`, tries the rename,
/// and removes that mount.
fn rename_without_redirects(demo: &Demo) -> io::Result<String> {
    let scratch = demo.layout.root.join("scratch");
    let (upper, work, merged) = (
        scratch.join("upper"),
        scratch.join("work"),
        scratch.join("merged"),
    );
    for d in [&upper, &work, &merged] {
        std::fs::create_dir_all(d)?;
    }
    let lowers: Vec<&Path> = demo
        .layout
        .lowers
        .iter()
        .map(|(p, _)| p.as_path())
        .collect();
    let result = sandbox::mount_overlay(
        &lowers,
        &upper,
        &work,
        &merged,
        "redirect_dir=off,metacopy=off",
    )
    .and_then(|()| {
        let r = std::fs::rename(merged.join("srv/app/static"), merged.join("srv/app/public"));
        let _ = sandbox::unmount(&merged);
        r.map(|()| String::new())
    });
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        libc::EXDEV => "EXDEV",
        libc::ENOENT => "ENOENT",
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::EINVAL => "EINVAL",
        libc::EIO => "EIO",
        libc::EROFS => "EROFS",
        _ => return None,
    })
}

/// The on-disk path of `rel` in layer `layer`, for messages.
fn disk_path(demo: &Demo, layer: usize, rel: &str) -> String {
    let root = demo
        .stack
        .layers
        .get(layer)
        .map(|l| l.path.clone())
        .unwrap_or_default();
    escape::path(&root.join(rel))
}

impl Fact {
    /// The claim in words, naming full on-disk paths.
    #[must_use]
    pub fn describe(&self, demo: &Demo) -> String {
        let ns = demo.xattr_namespace().prefix();
        match self {
            Fact::Absent { layer, rel } => {
                format!("{} does not exist", disk_path(demo, *layer, rel))
            }
            Fact::File { layer, rel, bytes } => {
                format!(
                    "{} is a regular file of exactly these {} bytes",
                    disk_path(demo, *layer, rel),
                    bytes.len()
                )
            }
            Fact::Whiteout { layer, rel } => {
                format!(
                    "{} is a character device 0/0 (a whiteout)",
                    disk_path(demo, *layer, rel)
                )
            }
            Fact::Xattr {
                layer,
                rel,
                name,
                value,
            } => format!(
                "{} has {ns}{name}=\"{}\"",
                disk_path(demo, *layer, rel),
                escape::display(value)
            ),
            Fact::NoXattr { layer, rel, name } => {
                format!("{} has no {ns}{name}", disk_path(demo, *layer, rel))
            }
            Fact::DirHolds { layer, rel, names } if names.is_empty() => {
                format!("{} is an empty directory", disk_path(demo, *layer, rel))
            }
            Fact::DirHolds { layer, rel, names } => {
                format!(
                    "{} holds only {}",
                    disk_path(demo, *layer, rel),
                    names.join(", ")
                )
            }
            Fact::Metacopy { layer, rel, size } => format!(
                "{} has {ns}metacopy, reports {size} bytes, and has no data blocks",
                disk_path(demo, *layer, rel)
            ),
            Fact::Mode { layer, rel, mode } => {
                format!("{} has mode {mode:04o}", disk_path(demo, *layer, rel))
            }
            Fact::NowhereBelow { rel } => {
                format!("no lower layer has {}", escape::display(rel.as_bytes()))
            }
            Fact::Refused { errno, contrast } => format!(
                "{} fails with {}",
                if *contrast {
                    "the contrasting rename"
                } else {
                    "the operation"
                },
                errno_name(*errno).map_or_else(|| format!("errno {errno}"), str::to_string)
            ),
        }
    }
}

/// What is at `rel` in a layer: its `lstat`, or `None` when absent.
fn lstat(demo: &Demo, layer: usize, rel: &str) -> io::Result<Option<rustix::fs::Stat>> {
    let root = LayerRoot::open(&demo.stack.layers[layer].path).map_err(io::Error::other)?;
    let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    let dir = match root.open_dir_fd(parent.as_bytes()) {
        Ok(d) => d,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    match fsio::lstat_at(dir.as_fd(), name.as_bytes()) {
        Ok(st) => Ok(Some(st)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

fn xattr(demo: &Demo, layer: usize, rel: &str, name: &str) -> io::Result<Option<Vec<u8>>> {
    let root = LayerRoot::open(&demo.stack.layers[layer].path).map_err(io::Error::other)?;
    let (parent, file) = rel.rsplit_once('/').unwrap_or(("", rel));
    let dir = root.open_dir_fd(parent.as_bytes())?;
    let full = format!("{}{name}", demo.xattr_namespace().prefix());
    fsio::get_xattr(dir.as_fd(), file.as_bytes(), &full)
}

fn kind_of(st: &rustix::fs::Stat) -> String {
    let kind = FileKind::from_mode(st.st_mode);
    if kind == FileKind::Char {
        let dev = st.st_rdev;
        format!(
            "a char device {}:{}",
            rustix::fs::major(dev),
            rustix::fs::minor(dev)
        )
    } else {
        format!("a {}", kind.as_str())
    }
}

/// Checks one piece of evidence against the layer directories (never through the mount).
fn check(
    demo: &Demo,
    evidence: &Evidence,
    result: &OpResult,
    contrast: Option<&OpResult>,
) -> Check {
    let found = match check_fact(demo, &evidence.fact, result, contrast) {
        Ok(None) => None,
        Ok(Some(f)) => Some(f),
        Err(e) => Some(format!("cannot read it: {e}")),
    };
    Check {
        evidence: evidence.clone(),
        claim: evidence.fact.describe(demo),
        ok: found.is_none(),
        found: found.unwrap_or_default(),
    }
}

/// `Ok(None)` when the fact holds, else what was found.
fn check_fact(
    demo: &Demo,
    fact: &Fact,
    result: &OpResult,
    contrast: Option<&OpResult>,
) -> io::Result<Option<String>> {
    let absent = || Some("nothing is there".to_string());
    Ok(match fact {
        Fact::Absent { layer, rel } => {
            lstat(demo, *layer, rel)?.map(|st| format!("{} is there", kind_of(&st)))
        }
        Fact::File { layer, rel, bytes } => match lstat(demo, *layer, rel)? {
            None => absent(),
            Some(st) if FileKind::from_mode(st.st_mode) != FileKind::File => Some(kind_of(&st)),
            Some(_) => {
                let root =
                    LayerRoot::open(&demo.stack.layers[*layer].path).map_err(io::Error::other)?;
                let mut got = Vec::new();
                root.open_file(rel.as_bytes())?.read_to_end(&mut got)?;
                (got != *bytes).then(|| format!("{} bytes with other content", got.len()))
            }
        },
        Fact::Whiteout { layer, rel } => match lstat(demo, *layer, rel)? {
            None => absent(),
            Some(st) if FileKind::from_mode(st.st_mode) == FileKind::Char && st.st_rdev == 0 => {
                None
            }
            Some(st) => Some(kind_of(&st)),
        },
        Fact::Xattr {
            layer,
            rel,
            name,
            value,
        } => match xattr(demo, *layer, rel, name)? {
            Some(v) if v == *value => None,
            Some(v) => Some(format!("the value \"{}\"", escape::display(&v))),
            None => Some("no such xattr".into()),
        },
        Fact::NoXattr { layer, rel, name } => match lstat(demo, *layer, rel)? {
            None => absent(),
            Some(_) => xattr(demo, *layer, rel, name)?
                .map(|v| format!("the value \"{}\"", escape::display(&v))),
        },
        Fact::DirHolds { layer, rel, names } => {
            let root =
                LayerRoot::open(&demo.stack.layers[*layer].path).map_err(io::Error::other)?;
            match root.open_dir_fd(rel.as_bytes()) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => absent(),
                Err(e) => return Err(e),
                Ok(dir) => {
                    let mut got: Vec<String> = fsio::read_dir(dir.as_fd())?
                        .into_iter()
                        .map(|(n, _)| escape::display(&n))
                        .collect();
                    got.sort();
                    (got != *names).then(|| {
                        if got.is_empty() {
                            "an empty directory".into()
                        } else {
                            format!("the names {}", got.join(", "))
                        }
                    })
                }
            }
        }
        Fact::Metacopy { layer, rel, size } => match lstat(demo, *layer, rel)? {
            None => absent(),
            Some(st) => {
                let mut wrong = Vec::new();
                if xattr(demo, *layer, rel, "metacopy")?.is_none() {
                    wrong.push("no metacopy xattr".to_string());
                }
                if u64::try_from(st.st_size).ok() != Some(*size) {
                    wrong.push(format!("a size of {}", st.st_size));
                }
                if st.st_blocks != 0 {
                    wrong.push(format!("{} data blocks", st.st_blocks));
                }
                (!wrong.is_empty()).then(|| wrong.join(", "))
            }
        },
        Fact::Mode { layer, rel, mode } => match lstat(demo, *layer, rel)? {
            None => absent(),
            Some(st) => {
                (st.st_mode & 0o7777 != *mode).then(|| format!("mode {:04o}", st.st_mode & 0o7777))
            }
        },
        Fact::NowhereBelow { rel } => {
            let mut holders = Vec::new();
            for layer in 1..demo.stack.layers.len() {
                if lstat(demo, layer, rel)?.is_some() {
                    holders.push(disk_path(demo, layer, rel));
                }
            }
            (!holders.is_empty()).then(|| format!("found at {}", holders.join(", ")))
        }
        Fact::Refused {
            errno,
            contrast: is_contrast,
        } => {
            let r = if *is_contrast { contrast } else { Some(result) };
            match r {
                Some(OpResult::Failed { errno: e, .. }) if e == errno => None,
                Some(r) => Some(r.summary()),
                None => Some("it was not attempted".into()),
            }
        }
    })
}
