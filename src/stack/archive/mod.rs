//! Images where they travel: `docker save` archives (`docker-archive:FILE[:IMAGE]`), OCI image
//! layouts (`oci:DIR[:REF]`) and tars of them (`oci-archive:FILE[:REF]`), opened as stacks of
//! read-only layers whose tars are indexed in place (nothing is extracted; see `fsio::tar`).

mod blobs;
mod docker_save;
mod image;
mod name;
mod oci_layout;
mod platform;

pub use name::{ArchiveName, Transport, parse};
pub use platform::Platform;

use crate::error::Result;
use crate::stack::LayerStack;

/// Opens the image `spec` names, when it has an archive prefix (`None` otherwise): its layers
/// top-down, labelled from the image config's history, with notes for the user (entries a layer
/// tar holds that no engine would apply).
///
/// `platform` is `--platform`; without it a multi-platform image opens as this machine's.
/// `check_digests` false is `--no-verify`: the layer blobs are not hashed, and a note says so.
#[must_use]
pub fn resolve(
    spec: &[u8],
    platform: Option<&str>,
    check_digests: bool,
) -> Option<Result<(LayerStack, Vec<String>)>> {
    let name = match parse(spec)? {
        Ok(name) => name,
        Err(e) => return Some(Err(e)),
    };
    Some(open(&name, platform, check_digests))
}

fn open(
    name: &ArchiveName,
    platform: Option<&str>,
    check_digests: bool,
) -> Result<(LayerStack, Vec<String>)> {
    let want = match platform {
        Some(p) => (Platform::parse(p)?, true),
        None => (Platform::host(), false),
    };
    let found = match name.transport {
        Transport::DockerArchive => {
            let blobs = blobs::Blobs::tar(&name.path)?;
            let image = docker_save::image(&blobs, name.reference.as_deref())?;
            (blobs, image)
        }
        Transport::OciDir => {
            let blobs = blobs::Blobs::dir(&name.path)?;
            let image = oci_layout::image(&blobs, name.reference.as_deref(), &want)?;
            (blobs, image)
        }
        Transport::OciArchive => {
            let blobs = blobs::Blobs::tar(&name.path)?;
            let image = oci_layout::image(&blobs, name.reference.as_deref(), &want)?;
            (blobs, image)
        }
    };
    let (blobs, image) = found;
    image::stack(name, &blobs, image, check_digests)
}
