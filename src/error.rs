//! One error type for the domain, carrying the path and what to do about it.

use std::path::PathBuf;

/// Result alias for the domain modules.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while naming a stack or reading its layers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call on a path failed.
    #[error("{op} '{}': {source}{}", crate::escape::path(path), io_hint(source))]
    Io {
        /// What we were doing ("reading directory", "opening layer").
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The user named something that is not a usable stack; the message says what to do.
    #[error("{0}")]
    BadInput(String),
    /// A merged path does not exist in the stack.
    #[error("'{0}' does not exist in the merged view")]
    NotFound(String),
    /// The kernel would refuse this lookup (EIO, EPERM, EINVAL...); the message says why.
    #[error("'{path}': {reason}")]
    Lookup {
        /// The merged path.
        path: String,
        /// Why the kernel refuses it.
        reason: String,
    },
    /// `check`: a rule failed (the verdict is on stdout already).
    #[error("check failed: {failed} of {rules} rules")]
    CheckFailed {
        /// Rules that failed.
        failed: usize,
        /// Rules applied.
        rules: usize,
    },
}

/// What to do about an I/O error on a layer path, appended to its message.
fn io_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            "; run as a user who may read every layer (e.g. with sudo)"
        }
        std::io::ErrorKind::NotFound => {
            "; the path is wrong, or the layer changed while it was read (is a container or \
             image being removed?): check it and run again"
        }
        _ => "",
    }
}

impl Error {
    /// Wraps an I/O error with the operation and path.
    pub fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
        source: impl Into<std::io::Error>,
    ) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source: source.into(),
        }
    }

    /// The process exit code for this error: 1 for a missing path, 3 for a failed `check`, 2
    /// for anything else.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::NotFound(_) => 1,
            Error::CheckFailed { .. } => 3,
            _ => 2,
        }
    }
}

/// The exit code of any command's error (the README's "Commands" section): 1 when a path does
/// not exist in the merged view, 3 when a `check` rule failed, 2 for everything else (bad
/// input, unreadable layers, I/O).
#[must_use]
pub fn exit_code(err: &anyhow::Error) -> u8 {
    err.downcast_ref::<Error>().map_or(2, Error::exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_path_is_1_and_everything_else_2() {
        let missing = anyhow::Error::from(Error::NotFound("/x".into()));
        assert_eq!(exit_code(&missing), 1);
        assert_eq!(exit_code(&missing.context("reading /x")), 1);
        assert_eq!(exit_code(&Error::BadInput("no".into()).into()), 2);
        let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(exit_code(&Error::io("opening", "/l", io).into()), 2);
        assert_eq!(exit_code(&anyhow::anyhow!("write failed")), 2);
        let failed = Error::CheckFailed {
            failed: 1,
            rules: 3,
        };
        assert_eq!(exit_code(&failed.into()), 3);
    }
}
