//! Standard output held back while an archive's layers are still being verified: a command
//! computes its answer beside the hashing, and nothing of it is shown unless the layers match
//! their records.

use std::io::{self, Write};

/// Output held this long at most; past it, a write waits for the verification (so `cat` of a
/// large file, or the listing of a huge layer, stays within a bounded memory).
pub const HOLD_LIMIT: usize = 32 << 20;

/// The checks a [`Held`] waits for.
#[derive(Clone, Copy)]
pub struct Gate {
    /// Whether a check is still running.
    pub pending: fn() -> bool,
    /// Waits for every check; an error when one failed.
    pub wait: fn() -> crate::error::Result<()>,
}

impl Gate {
    /// The layer tars this process indexes.
    #[must_use]
    pub fn layer_tars() -> Gate {
        Gate {
            pending: crate::fsio::tar::verifying,
            wait: crate::fsio::tar::verify_all,
        }
    }
}

/// A writer that keeps what it is given while [`Gate::pending`], then writes it on, once
/// [`Gate::wait`] passes; after a failed check it writes nothing, ever.
pub struct Held<W: Write> {
    inner: W,
    /// The writes held, each as given (the buffer above passes 8 KiB at a time): no growing
    /// buffer's spare capacity on top of the output.
    held: Vec<Vec<u8>>,
    held_bytes: usize,
    gate: Gate,
    refused: bool,
    limit: usize,
}

impl<W: Write> Held<W> {
    /// Holds writes to `inner` while `gate` is pending.
    pub fn new(inner: W, gate: Gate) -> Self {
        Held::with_limit(inner, gate, HOLD_LIMIT)
    }

    /// As [`Held::new`], holding at most `limit` bytes.
    pub fn with_limit(inner: W, gate: Gate, limit: usize) -> Self {
        Held {
            inner,
            held: Vec::new(),
            held_bytes: 0,
            gate,
            refused: false,
            limit,
        }
    }

    /// Drops what is held and writes nothing more (the check failed: its error is the answer).
    pub fn discard(&mut self) {
        self.held = Vec::new();
        self.held_bytes = 0;
        self.refused = true;
    }

    /// Waits for the checks, then writes what was held.
    fn release(&mut self) -> io::Result<()> {
        if self.refused {
            return Err(refused());
        }
        if let Err(e) = (self.gate.wait)() {
            self.discard();
            return Err(io::Error::other(e.to_string()));
        }
        self.held_bytes = 0;
        for chunk in std::mem::take(&mut self.held) {
            self.inner.write_all(&chunk)?;
        }
        Ok(())
    }
}

fn refused() -> io::Error {
    io::Error::other("an archive failed its verification: nothing of it is shown")
}

impl<W: Write> Write for Held<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.refused {
            return Err(refused());
        }
        if (self.gate.pending)() && self.held_bytes + buf.len() <= self.limit {
            self.held.push(buf.to_vec());
            self.held_bytes += buf.len();
            return Ok(buf.len());
        }
        self.release()?;
        self.inner.write(buf)
    }

    /// Output flushed is output shown: it waits for the checks.
    fn flush(&mut self) -> io::Result<()> {
        self.release()?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for Held<W> {
    /// As `BufWriter` does: what is held is written, unless the check failed.
    fn drop(&mut self) {
        if !self.refused && !self.held.is_empty() {
            let _ = self.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    // Each test has its own flags: the gate takes plain functions.
    static PENDING_A: AtomicBool = AtomicBool::new(true);
    static FAILED_A: AtomicBool = AtomicBool::new(false);
    static WAITED_B: AtomicBool = AtomicBool::new(false);

    fn gate_a() -> Gate {
        Gate {
            pending: || PENDING_A.load(Ordering::SeqCst),
            wait: || {
                PENDING_A.store(false, Ordering::SeqCst);
                if FAILED_A.load(Ordering::SeqCst) {
                    Err(crate::Error::BadInput("damaged".into()))
                } else {
                    Ok(())
                }
            },
        }
    }

    #[test]
    fn output_waits_for_the_check_and_a_failed_check_shows_nothing() {
        let mut out = Held::new(Vec::new(), gate_a());
        out.write_all(b"listing\n").unwrap();
        assert!(out.inner.is_empty(), "held while the check runs");
        out.flush().unwrap();
        assert_eq!(out.inner, b"listing\n");
        out.write_all(b"more\n").unwrap();
        assert_eq!(
            out.inner, b"listing\nmore\n",
            "written through once checked"
        );

        PENDING_A.store(true, Ordering::SeqCst);
        FAILED_A.store(true, Ordering::SeqCst);
        let mut bad = Held::new(Vec::new(), gate_a());
        bad.write_all(b"secret\n").unwrap();
        let err = bad.flush().expect_err("the check failed");
        assert!(err.to_string().contains("damaged"), "{err}");
        assert!(bad.write_all(b"later\n").is_err());
        assert!(bad.inner.is_empty(), "nothing of a failed archive");
    }

    #[test]
    fn past_the_limit_a_write_waits_for_the_check() {
        let gate = Gate {
            pending: || !WAITED_B.load(Ordering::SeqCst),
            wait: || {
                WAITED_B.store(true, Ordering::SeqCst);
                Ok(())
            },
        };
        let mut out = Held::with_limit(Vec::new(), gate, 10);
        out.write_all(b"12345678").unwrap();
        assert!(out.inner.is_empty() && !WAITED_B.load(Ordering::SeqCst));
        out.write_all(b"9abc").unwrap();
        assert!(WAITED_B.load(Ordering::SeqCst), "the limit made it wait");
        assert_eq!(out.inner, b"123456789abc", "in order");
    }
}
