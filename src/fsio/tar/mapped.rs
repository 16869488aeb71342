//! A blob mapped read-only, for its hash: SHA-256 runs straight over the page cache, without
//! the copy a `pread` makes (on a plain layer, that copy is a fifth of the hash thread's time,
//! and the hash thread is what an archive's listing waits for).
//!
//! A mapped file that another program truncates raises SIGBUS on the pages past its new end.
//! A handler installed once catches those faults inside the mappings made here: it maps a page
//! of zeros over the faulting one and marks the mapping, whose hash is then refused. Faults
//! anywhere else go to the handler that was there before (Rust's own, which reports a stack
//! overflow or restores the default action).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

/// Mappings alive at once (one per layer being hashed); past this, blobs are read instead.
const SLOTS: usize = 32;

static CLAIMED: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
static STARTS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static ENDS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static FAULTED: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
static PAGE: AtomicUsize = AtomicUsize::new(0);
static PREVIOUS: AtomicPtr<libc::sigaction> = AtomicPtr::new(std::ptr::null_mut());
static INSTALLED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

/// `len` bytes of a file from `offset`, mapped read-only.
pub struct Mapping {
    base: *mut libc::c_void,
    mapped: usize,
    skip: usize,
    len: usize,
    slot: usize,
}

// SAFETY: the mapping is read-only and owned by this value; `&[u8]` views of it are shared
// reads only.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Maps `offset..offset + len` of `file`; `None` when it cannot be mapped safely (the
    /// caller reads it instead).
    pub fn new(file: &File, offset: u64, len: u64) -> Option<Mapping> {
        let len = usize::try_from(len).ok().filter(|&l| l > 0)?;
        if !install() {
            return None;
        }
        let page = PAGE.load(Ordering::Relaxed);
        let start = offset - offset % page as u64;
        let skip = usize::try_from(offset - start).ok()?;
        let mapped = skip.checked_add(len)?;
        let slot = (0..SLOTS).find(|&i| {
            CLAIMED[i]
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        // SAFETY: a fresh read-only shared mapping of an open file; the kernel picks the
        // address. Nothing aliases it mutably.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapped,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                libc::off_t::try_from(start).ok()?,
            )
        };
        if base == libc::MAP_FAILED {
            CLAIMED[slot].store(false, Ordering::Release);
            return None;
        }
        // SAFETY: advice on the mapping just made; failure only loses the read-ahead hint.
        unsafe { libc::madvise(base, mapped, libc::MADV_SEQUENTIAL) };
        FAULTED[slot].store(false, Ordering::SeqCst);
        ENDS[slot].store(base as usize + mapped, Ordering::SeqCst);
        STARTS[slot].store(base as usize, Ordering::SeqCst);
        Some(Mapping {
            base,
            mapped,
            skip,
            len,
            slot,
        })
    }

    /// The bytes. A page the file lost since it was mapped reads as zeros, and
    /// [`Mapping::truncated`] says so.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `base + skip .. + len` lies in the mapping, which lives as long as `self`;
        // it is read-only, and the SIGBUS handler turns a page past a truncated end into zeros.
        unsafe { std::slice::from_raw_parts(self.base.cast::<u8>().add(self.skip), self.len) }
    }

    /// Whether the file was truncated under the mapping while it was read.
    pub fn truncated(&self) -> bool {
        FAULTED[self.slot].load(Ordering::SeqCst)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // Unregistered first: a fault on the address after the unmap is no longer ours.
        STARTS[self.slot].store(0, Ordering::SeqCst);
        // SAFETY: the mapping made in `new`, unmapped once; no slice of it outlives `self`.
        unsafe { libc::munmap(self.base, self.mapped) };
        CLAIMED[self.slot].store(false, Ordering::Release);
    }
}

/// Installs the SIGBUS handler, once; false when it could not be.
fn install() -> bool {
    INSTALL.call_once(|| {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let Ok(page) = usize::try_from(page) else {
            return;
        };
        if page == 0 {
            return;
        }
        PAGE.store(page, Ordering::Relaxed);
        // SAFETY: zeroed sigaction structs are valid; the previous action is kept (leaked, as
        // the handler may read it until the process ends) before ours replaces it.
        unsafe {
            let previous = Box::into_raw(Box::new(std::mem::zeroed::<libc::sigaction>()));
            let mut ours: libc::sigaction = std::mem::zeroed();
            let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                on_sigbus;
            ours.sa_sigaction = handler as usize;
            ours.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&raw mut ours.sa_mask);
            PREVIOUS.store(previous, Ordering::SeqCst);
            if libc::sigaction(libc::SIGBUS, &raw const ours, previous) == 0 {
                INSTALLED.store(true, Ordering::SeqCst);
            }
        }
    });
    INSTALLED.load(Ordering::SeqCst)
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for i in 0..SLOTS {
        let start = STARTS[i].load(Ordering::SeqCst);
        if start != 0 && addr >= start && addr < ENDS[i].load(Ordering::SeqCst) {
            // SAFETY: replaces one page inside our own mapping with zeros (mmap is a plain
            // system call, safe in a handler); the faulting read then retries on it.
            let zeros = unsafe {
                libc::mmap(
                    (addr - addr % page) as *mut libc::c_void,
                    page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if zeros != libc::MAP_FAILED {
                FAULTED[i].store(true, Ordering::SeqCst);
                return;
            }
        }
    }
    // Not ours: as the previous handler would have it.
    let previous = PREVIOUS.load(Ordering::SeqCst);
    // SAFETY: `previous` was filled by sigaction before our handler was installed and is
    // never freed; the handler it names was installed for this signal.
    unsafe {
        let p = &*previous;
        if p.sa_sigaction == libc::SIG_DFL || p.sa_sigaction == libc::SIG_IGN {
            // Back to the default, and the fault repeats when this returns.
            libc::signal(libc::SIGBUS, libc::SIG_DFL);
        } else if p.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(p.sa_sigaction);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(p.sa_sigaction);
            f(sig);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapped_file_reads_as_itself_and_a_truncation_under_it_is_caught() {
        let t = tempfile::tempdir().expect("tempdir");
        let path = t.path().join("blob");
        let bytes: Vec<u8> = (0..3 * 65536u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).expect("write");
        let file = File::open(&path).expect("open");
        let m = Mapping::new(&file, 1000, 100_000).expect("mapped");
        assert_eq!(m.bytes(), &bytes[1000..101_000]);
        assert!(!m.truncated());
        // Another program cuts the file short: the pages past its end read as zeros, noted.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open to cut")
            .set_len(4096)
            .expect("truncate");
        let tail = m.bytes()[90_000];
        assert_eq!(tail, 0);
        assert!(m.truncated(), "the truncation was caught");
        drop(m);
        let again = Mapping::new(&file, 0, 4096).expect("mapped again");
        assert_eq!(again.bytes(), &bytes[..4096]);
        assert!(!again.truncated(), "a new mapping starts clean");
    }
}
