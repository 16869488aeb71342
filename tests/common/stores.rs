//! Hand-made engine stores for the tests: the edge cases (and the hostile files) the engines
//! will not produce on demand.
#![allow(dead_code)]

use std::path::Path;

/// Writes `text` to `path`, making its directories.
pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A fake Docker data-root with one image of two layers and one container.
pub fn fake_docker(root: &Path, history: &str) -> (String, String) {
    let diff0 = format!("sha256:{}", "1".repeat(64));
    let diff1 = format!("sha256:{}", "2".repeat(64));
    let chains = layerscope::stack::engine::chain_ids(&[diff0.clone(), diff1.clone()]);
    let config = format!(
        r#"{{"created":"2024-01-01T00:00:00Z","history":{history},"rootfs":{{"type":"layers","diff_ids":["{diff0}","{diff1}"]}}}}"#
    );
    let image_id = "a".repeat(64);
    let img = root.join("image/overlay2");
    write(&img.join("imagedb/content/sha256").join(&image_id), &config);
    write(
        &img.join("repositories.json"),
        &format!(r#"{{"Repositories":{{"app":{{"app:1":"sha256:{image_id}"}}}}}}"#),
    );
    for (i, chain) in chains.iter().enumerate() {
        let d = img.join("layerdb/sha256").join(&chain[7..]);
        write(&d.join("cache-id"), &format!("cache{i}"));
        write(&d.join("size"), "3");
        if i > 0 {
            write(&d.join("parent"), &chains[i - 1]);
        }
        std::fs::create_dir_all(root.join(format!("overlay2/cache{i}/diff"))).unwrap();
    }
    write(&root.join("overlay2/cache0/diff/etc/motd"), "hi");
    write(&root.join("overlay2/cache1/diff/new"), "n");
    // A half-deleted layer, which must be ignored.
    std::fs::create_dir_all(img.join(format!("layerdb/sha256/{}-0123-removing", "f".repeat(64))))
        .unwrap();
    let cid = "c".repeat(64);
    write(
        &root.join("containers").join(&cid).join("config.v2.json"),
        &format!(
            r#"{{"ID":"{cid}","Name":"/web","Image":"sha256:{image_id}","Driver":"overlay2"}}"#
        ),
    );
    let m = img.join("layerdb/mounts").join(&cid);
    write(&m.join("mount-id"), "rw");
    write(&m.join("init-id"), "rw-init");
    write(&m.join("parent"), &chains[1]);
    std::fs::create_dir_all(root.join("overlay2/rw/diff")).unwrap();
    std::fs::create_dir_all(root.join("overlay2/rw-init/diff/etc")).unwrap();
    write(&root.join("overlay2/rw/diff/mine"), "m");
    (image_id, cid)
}
