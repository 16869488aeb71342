//! Mountinfo decoding, with lines of each kernel generation.
//!
//! Lines marked "captured" were copied from a real kernel; the others are written the way the
//! named kernel prints (`ovl_show_options` in that kernel's fs/overlayfs/), with the escapes its
//! `seq_show_option`/`seq_escape` calls produce.

use std::path::{Path, PathBuf};

use super::*;
use crate::stack::options::KernelDefaults;
use crate::stack::{LayerRole, RedirectMode, XattrNamespace};

fn entry(line: &[u8]) -> MountEntry {
    parse_line(line).expect("a well-formed mountinfo line")
}

fn decode(line: &[u8]) -> OverlayMount {
    decode_overlay(&entry(line)).expect("an overlay line that decodes")
}

fn paths(v: &[&[u8]]) -> Vec<PathBuf> {
    v.iter()
        .map(|b| PathBuf::from(std::ffi::OsStr::from_bytes(b)))
        .collect()
}

fn p(b: &[u8]) -> PathBuf {
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

fn kernel() -> KernelDefaults {
    // This machine's overlay module: redirect_dir=N, redirect_always_follow=Y, metacopy=N.
    KernelDefaults::default()
}

fn err_text(r: Result<impl std::fmt::Debug>) -> String {
    r.expect_err("an error").to_string()
}

// ---- the line itself ----------------------------------------------------------------------

#[test]
fn line_fields_with_and_without_optional_fields() {
    let e =
        entry(b"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue");
    assert_eq!((e.mount_id, e.parent_id), (36, 35));
    assert_eq!(e.root, Path::new("/mnt1"));
    assert_eq!(e.mountpoint, Path::new("/mnt2"));
    assert_eq!(e.fstype, "ext3");
    assert_eq!(e.source, b"/dev/root");
    assert_eq!(e.super_options, b"rw,errors=continue");

    let e =
        entry(b"25 1 0:22 / /tmp rw,nosuid shared:5 master:3 propagate_from:2 - tmpfs tmpfs rw");
    assert_eq!(e.fstype, "tmpfs");
    let e = entry(b"66 42 0:52 / /x rw - overlay overlay rw,lowerdir=/a");
    assert_eq!(e.super_options, b"rw,lowerdir=/a");
}

#[test]
fn mount_point_escapes_are_decoded() {
    let e = entry(
        br"90 27 0:60 / /tmp/with\040space/new\012line/back\134slash/tab\011x rw - overlay overlay rw,lowerdir=/l",
    );
    assert_eq!(
        e.mountpoint,
        p(b"/tmp/with space/new\nline/back\\slash/tab\tx")
    );
}

#[test]
fn malformed_lines_are_skipped_not_fatal() {
    let text = b"garbage\n\n1 2 3\n66 42 0:52 / /x rw - overlay overlay rw,lowerdir=/a\nx y 0:1 / /y rw - ext4 /dev/sda rw\n";
    let all = parse(text);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].mountpoint, Path::new("/x"));
}

#[test]
fn octal_escapes_beyond_a_byte_are_left_alone() {
    assert_eq!(unoctal(br"a\777b\040"), br"a\777b ".to_vec());
    assert_eq!(unoctal(br"end\04"), br"end\04".to_vec());
    assert_eq!(unescape(br"a\,b\\c\"), br"a,b\c".to_vec());
}

// ---- super options --------------------------------------------------------------------------

#[test]
fn selinux_context_with_commas_is_one_option() {
    let opts = split_super_options(
        br#"rw,context="system_u:object_r:container_file_t:s0:c334,c858",lowerdir=/a:/b,upperdir=/u"#,
    );
    let names: Vec<&str> = opts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["rw", "context", "lowerdir", "upperdir"]);
    assert_eq!(
        opts[1].1.as_deref(),
        Some(&br#""system_u:object_r:container_file_t:s0:c334,c858""#[..])
    );
}

#[test]
fn a_double_quote_in_a_layer_path_is_not_a_quote() {
    // seq_show_option does not escape '"'; a path holding one must not swallow the options after it.
    let m = decode(br#"70 27 0:61 / /m rw - overlay overlay rw,lowerdir=/srv/"odd:/srv/b,upperdir=/srv/u"x,workdir=/srv/w"#);
    assert_eq!(m.lowers, paths(&[br#"/srv/"odd"#, b"/srv/b"]));
    assert_eq!(m.upper, Some(p(br#"/srv/u"x"#)));
    assert_eq!(m.work, Some(p(b"/srv/w")));
}

// ---- each kernel generation -----------------------------------------------------------------

/// Captured: Docker 20.10 overlay2 on this machine's 6.18 kernel (a running container).
const DOCKER_6_18: &[u8] = b"66 42 0:52 / /var/lib/docker/overlay2/787613cbe9ac595f46b38697be2d08d5ada40bd91cf88229a9322c428e2da5e1/merged rw,relatime shared:3 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/WOJDX57YK7RFKI25U5ZCHMGTQE:/var/lib/docker/overlay2/l/HMPVTBOCUXDCG3RLPNIMEYIAOD,upperdir=/var/lib/docker/overlay2/787613cbe9ac595f46b38697be2d08d5ada40bd91cf88229a9322c428e2da5e1/diff,workdir=/var/lib/docker/overlay2/787613cbe9ac595f46b38697be2d08d5ada40bd91cf88229a9322c428e2da5e1/work";

#[test]
fn docker_overlay2_absolute_link_paths() {
    let m = decode(DOCKER_6_18);
    let id =
        "/var/lib/docker/overlay2/787613cbe9ac595f46b38697be2d08d5ada40bd91cf88229a9322c428e2da5e1";
    assert_eq!(
        m.lowers,
        [
            "/var/lib/docker/overlay2/l/WOJDX57YK7RFKI25U5ZCHMGTQE",
            "/var/lib/docker/overlay2/l/HMPVTBOCUXDCG3RLPNIMEYIAOD"
        ]
        .map(PathBuf::from)
    );
    assert_eq!(m.upper, Some(PathBuf::from(format!("{id}/diff"))));
    assert_eq!(m.work, Some(PathBuf::from(format!("{id}/work"))));
    assert!(m.data.is_empty());
    let stack = m.into_stack(&kernel()).unwrap();
    assert_eq!(stack.layers.len(), 3);
    assert_eq!(stack.layers[0].role, LayerRole::Upper);
    assert_eq!(
        stack.mountpoint,
        Some(PathBuf::from(format!("{id}/merged")))
    );
}

/// Docker overlay2 when the options would not fit in a page (many layers): it chdirs into the
/// driver home and mounts with relative paths (5.15, Ubuntu 22.04).
const DOCKER_RELATIVE_5_15: &[u8] = b"1523 29 0:245 / /var/lib/docker/overlay2/4b0f0b8e8bde3d7c2a8f1b0c6a9e7d2f13c5b6a7e8d9f0a1b2c3d4e5f6a7b8c9/merged rw,relatime shared:712 - overlay overlay rw,lowerdir=l/KZ5W3X7N2QJ4FJ6ZKQ4P2Y3BRT:l/TB3KQOV7J5CP6W3PZKQXE5H2LM:l/Q2ZJ4X6N7B5C3V2M1L0K9J8H7G,upperdir=4b0f0b8e8bde3d7c2a8f1b0c6a9e7d2f13c5b6a7e8d9f0a1b2c3d4e5f6a7b8c9/diff,workdir=4b0f0b8e8bde3d7c2a8f1b0c6a9e7d2f13c5b6a7e8d9f0a1b2c3d4e5f6a7b8c9/work,xino=off";

#[test]
fn docker_relative_link_paths_resolve_against_the_driver_home() {
    let mut m = decode(DOCKER_RELATIVE_5_15);
    assert_eq!(m.lowers[0], Path::new("l/KZ5W3X7N2QJ4FJ6ZKQ4P2Y3BRT"));
    let home = Path::new("/var/lib/docker/overlay2");
    let id = "4b0f0b8e8bde3d7c2a8f1b0c6a9e7d2f13c5b6a7e8d9f0a1b2c3d4e5f6a7b8c9";
    resolve_relative(&mut m, &|p| p.starts_with(home)).unwrap();
    assert_eq!(
        m.lowers,
        [
            "/var/lib/docker/overlay2/l/KZ5W3X7N2QJ4FJ6ZKQ4P2Y3BRT",
            "/var/lib/docker/overlay2/l/TB3KQOV7J5CP6W3PZKQXE5H2LM",
            "/var/lib/docker/overlay2/l/Q2ZJ4X6N7B5C3V2M1L0K9J8H7G",
        ]
        .map(PathBuf::from)
    );
    assert_eq!(m.upper, Some(home.join(id).join("diff")));
    assert_eq!(m.work, Some(home.join(id).join("work")));
    assert!(
        m.options
            .iter()
            .any(|(n, v)| n == "xino" && v.as_deref() == Some(&b"off"[..]))
    );
}

#[test]
fn relative_paths_that_do_not_resolve_give_a_clear_error() {
    let mut m = decode(DOCKER_RELATIVE_5_15);
    let e = err_text(resolve_relative(&mut m, &|_| false));
    assert!(
        e.contains("l/KZ5W3X7N2QJ4FJ6ZKQ4P2Y3BRT") || e.contains("/diff"),
        "{e}"
    );
    assert!(e.contains("/var/lib/docker/overlay2"), "{e}");
    assert!(
        e.contains("does not exist") && e.contains("--lowerdir"),
        "{e}"
    );

    // Captured on 6.18: mounted from /tmp/mi with relative paths; the mount point is not
    // <home>/<id>/merged, so nothing says what they were relative to.
    let line = br"48 27 0:39 / /tmp/mi/mnt rw,relatime - overlay overlay rw,lowerdir=l\040a:l\134\054b:l\134:c:l\134\134d,upperdir=up,workdir=wk,uuid=on";
    let mut m = decode(line);
    assert_eq!(m.lowers, paths(&[b"l a", b"l,b", b"l:c", b"l\\d"]));
    assert_eq!(m.upper, Some(p(b"up")));
    let e = err_text(resolve_relative(&mut m, &|_| true));
    assert!(
        e.contains("relative path") && e.contains("--lowerdir"),
        "{e}"
    );
    assert!(e.contains("/tmp/mi/mnt"), "{e}");
}

/// containers/storage on RHEL 8 (4.18): SELinux label with commas, relative paths, metacopy.
const PODMAN_SELINUX_4_18: &[u8] = br#"812 790 0:98 / /var/lib/containers/storage/overlay/e1d5f0b3b3c1a6b2e8f7d9c4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4/merged rw,nodev,relatime - overlay overlay rw,context="system_u:object_r:container_file_t:s0:c334,c858",lowerdir=l/7HBSM3FT4NUNA3VJHVHYDYJZ2X:l/IX7VDZ2ECD5MPJSKCUD2PVY4AS,upperdir=e1d5f0b3b3c1a6b2e8f7d9c4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4/diff,workdir=e1d5f0b3b3c1a6b2e8f7d9c4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4/work,redirect_dir=on,metacopy=on"#;

#[test]
fn podman_with_selinux_label_relative_paths_and_metacopy() {
    let mut m = decode(PODMAN_SELINUX_4_18);
    resolve_relative(&mut m, &|_| true).unwrap();
    assert_eq!(
        m.lowers,
        [
            "/var/lib/containers/storage/overlay/l/7HBSM3FT4NUNA3VJHVHYDYJZ2X",
            "/var/lib/containers/storage/overlay/l/IX7VDZ2ECD5MPJSKCUD2PVY4AS"
        ]
        .map(PathBuf::from)
    );
    let stack = m.into_stack(&kernel()).unwrap();
    assert!(stack.options.metacopy);
    assert_eq!(stack.options.redirect, RedirectMode::On);
    assert_eq!(stack.options.xattr, XattrNamespace::Trusted);
}

/// Rootless Podman (fuse-free, kernel overlay in a user namespace, 5.15): userxattr.
const PODMAN_ROOTLESS_5_15: &[u8] = br#"1024 1001 0:120 / /home/ann/.local/share/containers/storage/overlay/9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b/merged rw,nodev,relatime - overlay overlay rw,lowerdir=/home/ann/.local/share/containers/storage/overlay/l/DXAUVXGUYHMT2SSXJ3KZPGDDUN,upperdir=/home/ann/.local/share/containers/storage/overlay/9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b/diff,workdir=/home/ann/.local/share/containers/storage/overlay/9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b/work,redirect_dir=nofollow,userxattr"#;

#[test]
fn rootless_userxattr_mount() {
    let stack = decode(PODMAN_ROOTLESS_5_15).into_stack(&kernel()).unwrap();
    assert_eq!(stack.options.xattr, XattrNamespace::User);
    assert!(!stack.options.redirect.follows());
    assert!(!stack.options.metacopy);
    // Even where the module defaults turn them on.
    let k = KernelDefaults {
        redirect_dir: true,
        redirect_always_follow: true,
        metacopy: true,
        ..KernelDefaults::default()
    };
    let stack = decode(PODMAN_ROOTLESS_5_15).into_stack(&k).unwrap();
    assert!(!stack.options.redirect.follows() && !stack.options.metacopy);
}

#[test]
fn up_to_6_4_the_users_string_with_escapes_surviving() {
    // The user typed: lowerdir=/srv/lay a:/srv/l\:b:/srv/c\,d:/srv/back\\slash:/srv/new<LF>line
    // and upperdir=/srv/up\,per; seq_show_option escapes ", \t\n\\" as octal.
    let line = br"301 27 0:70 / /srv/merged rw,relatime - overlay overlay rw,lowerdir=/srv/lay\040a:/srv/l\134:b:/srv/c\134\054d:/srv/back\134\134slash:/srv/new\012line,upperdir=/srv/up\134\054per,workdir=/srv/work";
    let m = decode(line);
    assert_eq!(
        m.lowers,
        paths(&[
            b"/srv/lay a",
            b"/srv/l:b",
            b"/srv/c,d",
            b"/srv/back\\slash",
            b"/srv/new\nline"
        ])
    );
    assert_eq!(m.upper, Some(p(b"/srv/up,per")));
    assert_eq!(m.work, Some(p(b"/srv/work")));
}

#[test]
fn from_6_5_to_6_7_one_escaped_path_per_layer_and_data_only_layers() {
    // 6.5.8+/6.6: each stored layer keeps the user's escapes and is printed with
    // seq_escape(":, \t\n\\"); `::` comes before each data-only layer.
    let line = br"302 27 0:71 / /srv/merged rw,relatime - overlay overlay ro,lowerdir=/srv/lay\040a:/srv/l\134\072b:/srv/c\134\054d:/srv/back\134\134slash::/srv/data\134\072one::/srv/data2,redirect_dir=on,metacopy=on";
    let m = decode(line);
    assert_eq!(
        m.lowers,
        paths(&[b"/srv/lay a", b"/srv/l:b", b"/srv/c,d", b"/srv/back\\slash"])
    );
    assert_eq!(m.data, paths(&[b"/srv/data:one", b"/srv/data2"]));
    // 6.5.0-6.5.7 stored names unescaped, so a colon in a name shows as a bare \072.
    let line = br"303 27 0:72 / /srv/merged rw,relatime - overlay overlay ro,lowerdir=/srv/l\072b:/srv/c\054d\040e::/srv/data\072one,metacopy=on";
    let m = decode(line);
    assert_eq!(m.lowers, paths(&[b"/srv/l:b", b"/srv/c,d e"]));
    assert_eq!(m.data, paths(&[b"/srv/data:one"]));
    let stack = m.into_stack(&kernel()).unwrap();
    assert_eq!(stack.layers[2].role, LayerRole::DataOnly);
}

#[test]
fn from_6_8_lowerdir_plus_and_datadir_plus_are_literal() {
    // Each value is a literal path: colons stay bare, backslashes are part of the name.
    let line = br"304 27 0:73 / /srv/merged rw,relatime - overlay overlay rw,lowerdir+=/srv/lay\040a,lowerdir+=/srv/l:b,lowerdir+=/srv/c\054d,lowerdir+=/srv/back\134slash,lowerdir+=/srv/new\012line,datadir+=/srv/data:1,datadir+=/srv/d\134:2,upperdir=/srv/u,workdir=/srv/w,redirect_dir=on,metacopy=on";
    let m = decode(line);
    assert_eq!(
        m.lowers,
        paths(&[
            b"/srv/lay a",
            b"/srv/l:b",
            b"/srv/c,d",
            b"/srv/back\\slash",
            b"/srv/new\nline"
        ])
    );
    assert_eq!(m.data, paths(&[b"/srv/data:1", b"/srv/d\\:2"]));
    let stack = m.into_stack(&kernel()).unwrap();
    let roles: Vec<LayerRole> = stack.layers.iter().map(|l| l.role).collect();
    assert_eq!(
        roles,
        [
            LayerRole::Upper,
            LayerRole::Lower,
            LayerRole::Lower,
            LayerRole::Lower,
            LayerRole::Lower,
            LayerRole::Lower,
            LayerRole::DataOnly,
            LayerRole::DataOnly
        ]
    );
}

#[test]
fn captured_on_6_18() {
    // lowerdir+ via mount(2) strings: a backslash stays in the name.
    let m = decode(br"46 27 0:39 / /tmp/mi/mnt rw,relatime - overlay overlay ro,lowerdir+=/tmp/mi/l\040a,lowerdir+=/tmp/mi/l:c,lowerdir+=/tmp/mi/l\134d,redirect_dir=on");
    assert_eq!(
        m.lowers,
        paths(&[b"/tmp/mi/l a", b"/tmp/mi/l:c", b"/tmp/mi/l\\d"])
    );
    let m = decode(br"49 27 0:41 / /tmp/mi/mnt rw,relatime - overlay overlay ro,lowerdir+=/tmp/mi/l\040a,datadir+=/tmp/mi/dd,redirect_dir=on");
    assert_eq!(m.data, paths(&[b"/tmp/mi/dd"]));
    let m = decode(br"50 27 0:41 / /tmp/mi/mnt rw,relatime - overlay overlay ro,lowerdir=/tmp/mi/l\040a::/tmp/mi/dd,redirect_dir=on,metacopy=on");
    assert_eq!((m.lowers.len(), m.data.len()), (1, 1));
    let m = decode(br"82 27 0:49 / /tmp/mi/mnt rw,relatime - overlay overlay ro,lowerdir=/tmp/mi/l\040a:/tmp/mi/d\134\054x,redirect_dir=on");
    assert_eq!(m.lowers, paths(&[b"/tmp/mi/l a", b"/tmp/mi/d,x"]));
    let stack = decode(br"65 27 0:52 / /tmp/mi/mnt rw,relatime - overlay overlay rw,lowerdir=/tmp/mi/dd,upperdir=/tmp/mi/up,workdir=/tmp/mi/wk,redirect_dir=nofollow,uuid=on,userxattr").into_stack(&kernel()).unwrap();
    assert_eq!(stack.options.xattr, XattrNamespace::User);
}

#[test]
fn index_nfs_export_and_xino_are_read_from_the_mount() {
    // As 6.18 prints index=on,nfs_export=on (xino=on only where the layers span filesystems).
    let stack = decode(br"66 27 0:53 / /tmp/mi/mnt rw,relatime - overlay overlay rw,lowerdir=/tmp/mi/l,upperdir=/tmp/mi/up,workdir=/tmp/mi/wk,index=on,nfs_export=on,xino=on").into_stack(&kernel()).unwrap();
    let o = &stack.options;
    assert!(o.index && o.nfs_export && o.xino == crate::stack::Xino::On);
    let stack = decode(br"67 27 0:54 / /tmp/mi/mnt rw,relatime - overlay overlay rw,lowerdir=/tmp/mi/l,upperdir=/tmp/mi/up,workdir=/tmp/mi/wk").into_stack(&kernel()).unwrap();
    assert!(!stack.options.index && stack.options.xino == crate::stack::Xino::Off);
    // No upper layer: no index.
    let stack = decode(br"68 27 0:55 / /tmp/mi/mnt rw,relatime - overlay overlay ro,lowerdir=/tmp/mi/l:/tmp/mi/m,index=on").into_stack(&kernel()).unwrap();
    assert!(!stack.options.index);
}

#[test]
fn from_6_13_layers_given_by_file_descriptor() {
    let line = b"305 27 0:74 / /run/ovl rw,relatime - overlay none rw,lowerdir+=/tmp/l1,lowerdir+=/tmp/l2,datadir+=/tmp/d1,upperdir=/tmp/u,workdir=/tmp/w";
    let m = decode(line);
    assert_eq!(m.lowers, paths(&[b"/tmp/l1", b"/tmp/l2"]));
    assert_eq!(m.data, paths(&[b"/tmp/d1"]));
}

#[test]
fn five_hundred_layers_on_one_long_line() {
    let lowers: Vec<String> = (0..500)
        .map(|i| format!("/var/lib/containers/storage/overlay/l/LAYER{i:05}ABCDEFGHIJKLMNOPQRSTU"))
        .collect();
    let line = format!(
        "400 27 0:80 / /var/lib/containers/storage/overlay/abc/merged rw - overlay overlay rw,lowerdir={},upperdir=/u,workdir=/w",
        lowers.join(":")
    );
    assert!(line.len() > 20_000);
    let m = decode(line.as_bytes());
    assert_eq!(m.lowers.len(), 500);
    assert_eq!(m.lowers[499], Path::new(&lowers[499]));
}

// ---- what is not an overlay, or cannot be decoded --------------------------------------------

#[test]
fn not_an_overlay_names_the_type_and_what_to_do() {
    let e = err_text(decode_overlay(&entry(
        b"30 1 8:1 / /home rw,relatime - ext4 /dev/sda1 rw",
    )));
    assert!(
        e.contains("ext4") && e.contains("/home") && e.contains("--lowerdir"),
        "{e}"
    );
    let e = err_text(decode_overlay(&entry(
        b"31 1 0:40 / /home/ann/c/merged rw,nodev - fuse.fuse-overlayfs fuse-overlayfs rw,user_id=0,group_id=0,default_permissions,allow_other",
    )));
    assert!(
        e.contains("fuse-overlayfs") && e.contains("does not show its layers"),
        "{e}"
    );
}

#[test]
fn undecodable_lowerdir_is_a_clear_error() {
    let e = err_text(decode_overlay(&entry(
        b"32 1 0:41 / /m rw - overlay overlay rw,lowerdir=/a:::/b",
    )));
    assert!(
        e.contains("/m") && e.contains("mountinfo") && e.contains("--lowerdir"),
        "{e}"
    );
    let e = err_text(decode_overlay(&entry(
        b"33 1 0:41 / /m rw - overlay overlay rw,upperdir=/u,workdir=/w",
    )));
    assert!(e.contains("no lower layer"), "{e}");
}

// ---- finding the mount --------------------------------------------------------------------

#[test]
fn a_path_inside_an_overlay_suggests_the_mount_point_form() {
    let all = parse(b"1 0 8:1 / / rw - ext4 /dev/sda1 rw\n66 1 0:52 / /srv/my\\040merged rw - overlay overlay rw,lowerdir=/a\n");
    let found = find_in(
        &all,
        Path::new("/srv/my merged"),
        Path::new("/srv/my merged"),
    )
    .unwrap();
    assert_eq!(found.mount_id, 66);
    let e = err_text(find_in(
        &all,
        Path::new("/srv/my merged/etc/passwd"),
        Path::new("my merged/etc/passwd"),
    ));
    assert!(
        e.contains("inside the overlay mounted at '/srv/my merged'"),
        "{e}"
    );
    assert!(
        e.contains("layerscope ls '/srv/my merged' /etc/passwd"),
        "{e}"
    );
    let e = err_text(find_in(&all, Path::new("/srv"), Path::new("/srv")));
    assert!(
        e.contains("'/srv' is not a mount point") && e.contains("--lowerdir"),
        "{e}"
    );
}

#[test]
fn the_mount_on_top_wins() {
    let all = parse(b"66 1 0:52 / /m rw - overlay overlay rw,lowerdir=/old\n67 66 0:53 / /m rw - overlay overlay rw,lowerdir=/new\n");
    let found = find_in(&all, Path::new("/m"), Path::new("/m")).unwrap();
    assert_eq!(decode_overlay(&found).unwrap().lowers, paths(&[b"/new"]));
}

#[test]
fn driver_home_only_for_merged_mount_points() {
    assert_eq!(
        driver_home(Path::new("/var/lib/docker/overlay2/abc/merged")),
        Some(Path::new("/var/lib/docker/overlay2"))
    );
    assert_eq!(driver_home(Path::new("/srv/mnt")), None);
    assert_eq!(driver_home(Path::new("/merged")), None);
}

#[test]
fn captured_on_6_18_fsconfig_with_quotes_and_raw_colons() {
    // Captured from tests/mountinfo.rs (fsconfig lowerdir+/datadir+), temp dir renamed /t.
    let line = br#"90 27 0:60 / /t/m rw,relatime - overlay overlay rw,lowerdir+=/t/quo"te,lowerdir+=/t/"starts\054with:quote,datadir+=/t/da\134ta\0542\040x,upperdir=/t/up:per\054\040x,workdir=/t/wo"rk,redirect_dir=on,uuid=on"#;
    let m = decode(line);
    assert_eq!(
        m.lowers,
        paths(&[br#"/t/quo"te"#, br#"/t/"starts,with:quote"#])
    );
    assert_eq!(m.data, paths(&[b"/t/da\\ta,2 x"]));
    assert_eq!(m.upper, Some(p(b"/t/up:per, x")));
    assert_eq!(m.work, Some(p(br#"/t/wo"rk"#)));
    assert!(m.options.iter().any(|(n, _)| n == "uuid"));
}

#[test]
fn an_absolute_layer_that_is_gone_is_named() {
    let mut m = decode(DOCKER_6_18);
    let e = err_text(resolve_relative(&mut m, &|p| {
        !p.ends_with("HMPVTBOCUXDCG3RLPNIMEYIAOD")
    }));
    assert!(
        e.contains("/var/lib/docker/overlay2/l/HMPVTBOCUXDCG3RLPNIMEYIAOD"),
        "{e}"
    );
    assert!(
        e.contains("not there any more") && e.contains("--lowerdir"),
        "{e}"
    );
}
