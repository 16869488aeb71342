//! Mountinfo decoding against the running kernel: mount overlays whose layer paths hold spaces,
//! commas, colons, backslashes, tabs, newlines, quotes and non-UTF-8 bytes, in each way a
//! mounter can pass them (the classic option string with escapes, `lowerdir+`/`datadir+` through
//! fsconfig, relative `l/…` paths as Docker mounts), and check that decoding this kernel's
//! `/proc/self/mountinfo` gives back the exact paths.

mod common;

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use layerscope::stack::mountinfo::{self, MountEntry};
use layerscope::stack::options::KernelDefaults;
use layerscope::stack::spec::{StackRequest, resolve};
use layerscope::stack::{LayerRole, RedirectMode, XattrNamespace};
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags, UnmountFlags,
};

/// Unmounts (lazily) on drop.
struct Guard(PathBuf);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, UnmountFlags::DETACH);
    }
}

fn mkdir(base: &Path, name: &[u8]) -> PathBuf {
    let d = base.join(OsStr::from_bytes(name));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn temp() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(t.path()).unwrap();
    (t, base)
}

/// This process's mountinfo entry for `point`.
fn entry_at(point: &Path) -> MountEntry {
    let text = std::fs::read("/proc/self/mountinfo").unwrap();
    mountinfo::parse(&text)
        .into_iter()
        .rev()
        .find(|m| m.mountpoint == point)
        .unwrap_or_else(|| panic!("no mountinfo line for {point:?}"))
}

fn raw_line(point: &Path) -> String {
    String::from_utf8_lossy(&entry_at(point).super_options).into_owned()
}

/// Escapes a path for the classic `lowerdir=` option: backslash before `\`, `:` and `,`.
fn esc_lower(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in path.as_os_str().as_bytes() {
        if matches!(b, b'\\' | b':' | b',') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// Escapes a path for `upperdir=`/`workdir=` in the classic option string.
fn esc_upper(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in path.as_os_str().as_bytes() {
        if matches!(b, b'\\' | b',') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// Layer names that need every kind of escape (no `"`: with SELinux active, mount(2)'s option
/// splitter honours quotes).
const AWKWARD: [&[u8]; 7] = [
    b"lay a",
    b"c,d",
    b"l:b",
    b"back\\slash",
    b"tab\tx",
    b"new\nline",
    b"bad\xff\xfe",
];

#[test]
fn classic_option_string_with_escapes() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let (_t, base) = temp();
    let lowers: Vec<PathBuf> = AWKWARD.iter().map(|n| mkdir(&base, n)).collect();
    let data = mkdir(&base, b"data:only, one");
    let upper = mkdir(&base, b"up,per \\x");
    let work = mkdir(&base, b"wo,rk");
    let point = mkdir(&base, b"merged here\nand\\there");
    let mut opts = b"lowerdir=".to_vec();
    for (i, l) in lowers.iter().enumerate() {
        if i > 0 {
            opts.push(b':');
        }
        opts.extend(esc_lower(l));
    }
    opts.extend(b"::");
    opts.extend(esc_lower(&data));
    opts.extend(b",upperdir=");
    opts.extend(esc_upper(&upper));
    opts.extend(b",workdir=");
    opts.extend(esc_upper(&work));
    opts.extend(b",redirect_dir=on,metacopy=on");
    let data_c = CString::new(opts).unwrap();
    rustix::mount::mount("overlay", &point, "overlay", MountFlags::empty(), &*data_c)
        .expect("mount(2) of the overlay");
    let _g = Guard(point.clone());
    eprintln!("mountinfo: {}", raw_line(&point));

    let stack = mountinfo::stack_from_entry(&entry_at(&point), &KernelDefaults::read()).unwrap();
    let got: Vec<(LayerRole, PathBuf)> = stack
        .layers
        .iter()
        .map(|l| (l.role, l.path.clone()))
        .collect();
    let mut want = vec![(LayerRole::Upper, upper)];
    want.extend(lowers.into_iter().map(|l| (LayerRole::Lower, l)));
    want.push((LayerRole::DataOnly, data));
    assert_eq!(got, want);
    assert_eq!(stack.workdir, Some(work));
    assert_eq!(stack.mountpoint, Some(point.clone()));
    assert!(stack.options.metacopy);
    assert_eq!(stack.options.redirect, RedirectMode::On);

    // The same through the CLI's resolver, by the mount point as typed.
    let by_name = resolve(&StackRequest {
        stack: Some(point.clone().into_os_string()),
        ..StackRequest::default()
    })
    .unwrap();
    assert_eq!(by_name.layers, stack.layers);
}

#[test]
fn lowerdir_plus_and_datadir_plus_through_fsconfig() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let (_t, base) = temp();
    let mut names: Vec<&[u8]> = AWKWARD.to_vec();
    names.push(b"quo\"te");
    names.push(b"\"starts,with:quote");
    let lowers: Vec<PathBuf> = names.iter().map(|n| mkdir(&base, n)).collect();
    let datas = [mkdir(&base, b"data:1"), mkdir(&base, b"da\\ta,2 x")];
    // upperdir= and workdir= strings are unescaped by the kernel: no backslash in these.
    let upper = mkdir(&base, b"up:per, x");
    let work = mkdir(&base, b"wo\"rk");
    let point = mkdir(&base, b"merged, with: colon");

    let fs = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC).unwrap();
    for l in &lowers {
        if let Err(e) = rustix::mount::fsconfig_set_string(&fs, "lowerdir+", l) {
            return common::skip(&format!("this kernel refuses lowerdir+ ({e}): needs 6.8+"));
        }
    }
    for d in &datas {
        rustix::mount::fsconfig_set_string(&fs, "datadir+", d).unwrap();
    }
    rustix::mount::fsconfig_set_string(&fs, "upperdir", &upper).unwrap();
    rustix::mount::fsconfig_set_string(&fs, "workdir", &work).unwrap();
    rustix::mount::fsconfig_set_string(&fs, "redirect_dir", "on").unwrap();
    rustix::mount::fsconfig_create(&fs).expect("fsconfig create");
    let mnt = rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())
        .unwrap();
    rustix::mount::move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        &point,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .unwrap();
    let _g = Guard(point.clone());
    let raw = raw_line(&point);
    eprintln!("mountinfo: {raw}");
    assert!(raw.contains("lowerdir+="), "{raw}");

    let m = mountinfo::decode_overlay(&entry_at(&point)).unwrap();
    assert_eq!(m.lowers, lowers);
    assert_eq!(m.data, datas);
    assert_eq!(m.upper.as_ref(), Some(&upper));
    assert_eq!(m.work.as_ref(), Some(&work));
    let stack = m.into_stack(&KernelDefaults::read()).unwrap();
    assert!(stack.options.redirect.follows());
}

#[test]
fn lowerdir_string_through_fsconfig_keeps_raw_commas() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let (_t, base) = temp();
    // fsconfig does not split on commas, so a comma needs no escape; a colon still does.
    let lowers = [
        mkdir(&base, b"a,b"),
        mkdir(&base, b"c:d"),
        mkdir(&base, b"e f"),
    ];
    let data = mkdir(&base, b"g,h:i");
    let point = mkdir(&base, b"mnt");
    let esc = |p: &Path| {
        let mut out = Vec::new();
        for &b in p.as_os_str().as_bytes() {
            if b == b':' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out
    };
    let mut value = Vec::new();
    for (i, l) in lowers.iter().enumerate() {
        if i > 0 {
            value.push(b':');
        }
        value.extend(esc(l));
    }
    value.extend(b"::");
    value.extend(esc(&data));
    let fs = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC).unwrap();
    rustix::mount::fsconfig_set_string(&fs, "lowerdir", OsStr::from_bytes(&value)).unwrap();
    rustix::mount::fsconfig_set_string(&fs, "metacopy", "on").unwrap();
    rustix::mount::fsconfig_create(&fs).expect("fsconfig create");
    let mnt = rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())
        .unwrap();
    rustix::mount::move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        &point,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .unwrap();
    let _g = Guard(point.clone());
    eprintln!("mountinfo: {}", raw_line(&point));
    let m = mountinfo::decode_overlay(&entry_at(&point)).unwrap();
    assert_eq!(m.lowers, lowers);
    assert_eq!(m.data, [data]);
    assert_eq!(m.upper, None);
}

#[test]
fn docker_style_relative_link_paths() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let (_t, base) = temp();
    // <home>/l/<LINK> -> ../<id>/diff, and the mount made from <home> with relative paths.
    let home = mkdir(&base, b"overlay2");
    mkdir(&home, b"l");
    for (id, link) in [("base1", "AAAABBBBCCCC"), ("app22", "DDDDEEEEFFFF")] {
        std::fs::create_dir_all(home.join(id).join("diff")).unwrap();
        std::fs::write(home.join(id).join("diff").join(format!("from-{id}")), id).unwrap();
        std::os::unix::fs::symlink(format!("../{id}/diff"), home.join("l").join(link)).unwrap();
    }
    let c = "c0ffee";
    for d in ["diff", "work", "merged"] {
        std::fs::create_dir_all(home.join(c).join(d)).unwrap();
    }
    let opts = format!(
        "lowerdir=l/DDDDEEEEFFFF:l/AAAABBBBCCCC,upperdir={c}/diff,workdir={c}/work,index=off"
    );
    let st = std::process::Command::new("mount")
        .args([
            "-t",
            "overlay",
            "overlay",
            "-o",
            &opts,
            &format!("{c}/merged"),
        ])
        .current_dir(&home)
        .status()
        .unwrap();
    assert!(st.success(), "mount -o {opts}");
    let point = home.join(c).join("merged");
    let _g = Guard(point.clone());
    let raw = raw_line(&point);
    eprintln!("mountinfo: {raw}");
    assert!(raw.contains("lowerdir=l/DDDDEEEEFFFF"), "{raw}");

    let stack = mountinfo::stack_from_entry(&entry_at(&point), &KernelDefaults::read()).unwrap();
    let paths: Vec<&Path> = stack.layers.iter().map(|l| l.path.as_path()).collect();
    assert_eq!(
        paths,
        [
            home.join(c).join("diff").as_path(),
            &home.join("l/DDDDEEEEFFFF"),
            &home.join("l/AAAABBBBCCCC")
        ]
    );
    assert_eq!(stack.workdir, Some(home.join(c).join("work")));

    // The layers resolve to the same content the kernel merges.
    let merger = layerscope::merge::Merger::open(&stack).unwrap();
    for id in ["base1", "app22"] {
        let e = merger.entry(format!("/from-{id}").as_bytes()).unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut merger.open_content(&e).unwrap(), &mut s).unwrap();
        assert_eq!(
            s,
            std::fs::read_to_string(point.join(format!("from-{id}"))).unwrap()
        );
    }

    // A link that vanished: a clear error naming it, never a wrong stack.
    std::fs::remove_file(home.join("l/AAAABBBBCCCC")).unwrap();
    let e = mountinfo::stack_from_entry(&entry_at(&point), &KernelDefaults::read())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("l/AAAABBBBCCCC") && e.contains("does not exist"),
        "{e}"
    );
}

#[test]
fn userxattr_mount_options() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let (_t, base) = temp();
    let (l, u, w, point) = (
        mkdir(&base, b"l"),
        mkdir(&base, b"u"),
        mkdir(&base, b"w"),
        mkdir(&base, b"m"),
    );
    let opts = format!(
        "lowerdir={},upperdir={},workdir={},userxattr",
        l.display(),
        u.display(),
        w.display()
    );
    let c = CString::new(opts).unwrap();
    rustix::mount::mount("overlay", &point, "overlay", MountFlags::empty(), &*c).unwrap();
    let _g = Guard(point.clone());
    let stack = mountinfo::stack_from_entry(&entry_at(&point), &KernelDefaults::read()).unwrap();
    assert_eq!(stack.options.xattr, XattrNamespace::User);
    assert!(!stack.options.redirect.follows());
    assert!(!stack.options.metacopy);
}

#[test]
fn a_path_inside_a_mounted_overlay_is_not_a_stack() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let (_t, base) = temp();
    let l = mkdir(&base, b"l");
    mkdir(&l, b"etc");
    let l2 = mkdir(&base, b"l2");
    let point = mkdir(&base, b"m");
    let c = CString::new(format!("lowerdir={}:{}", l.display(), l2.display())).unwrap();
    rustix::mount::mount("overlay", &point, "overlay", MountFlags::RDONLY, &*c).unwrap();
    let _g = Guard(point.clone());
    let e = mountinfo::find_mount(&point.join("etc"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("inside the overlay mounted at"), "{e}");
    assert!(e.contains(&format!("{} /etc", point.display())), "{e}");
    let e = mountinfo::find_mount(&l).unwrap_err().to_string();
    assert!(e.contains("is not a mount point"), "{e}");
}

#[test]
fn a_non_utf8_mount_point_names_the_stack() {
    if let Some(why) = common::cannot_mount_overlay() {
        return common::skip(&why);
    }
    let (_t, base) = temp();
    let (a, b) = (mkdir(&base, b"a\xfe"), mkdir(&base, b"b"));
    let point = mkdir(&base, b"m\xff\x1b");
    let mut opts = b"lowerdir=".to_vec();
    opts.extend(esc_lower(&a));
    opts.push(b':');
    opts.extend(esc_lower(&b));
    let c = CString::new(opts).unwrap();
    rustix::mount::mount("overlay", &point, "overlay", MountFlags::RDONLY, &*c).unwrap();
    let _g = Guard(point.clone());
    let stack = resolve(&StackRequest {
        stack: Some(point.clone().into_os_string()),
        ..StackRequest::default()
    })
    .unwrap();
    let paths: Vec<&Path> = stack.layers.iter().map(|l| l.path.as_path()).collect();
    assert_eq!(paths, [a.as_path(), b.as_path()]);
}
