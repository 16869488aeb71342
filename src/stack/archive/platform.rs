//! Platforms of multi-platform images: `OS/ARCH[/VARIANT]`, this machine's, and choosing one.

use crate::error::{Error, Result};

/// An image's platform, as an OCI index records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Platform {
    /// `linux`, `windows`, ...
    pub os: String,
    /// `amd64`, `arm64`, `arm`, ... (Go's names, as the OCI spec uses them).
    pub architecture: String,
    /// `v7`, `v8`, ... where the architecture has variants.
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `OS/ARCH[/VARIANT]`.
    ///
    /// # Errors
    /// Not of that form.
    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok =
            |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: (*os).to_string(),
                architecture: (*arch).to_string(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform {
                os: (*os).to_string(),
                architecture: (*arch).to_string(),
                variant: Some((*variant).to_string()),
            }),
            _ => Err(Error::BadInput(format!(
                "--platform '{}': write OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm/v7",
                crate::escape::display(s.as_bytes())
            ))),
        }
    }

    /// This machine's platform, in the OCI spec's (Go's) names.
    #[must_use]
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "riscv64" => ("riscv64", None),
            "s390x" => ("s390x", None),
            "loongarch64" => ("loong64", None),
            other => (other, None),
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// Whether an image of platform `have` runs as `self` asks: the same OS and architecture,
    /// and the same variant when `self` names one (arm64's unnamed variant is v8).
    #[must_use]
    pub fn accepts(&self, have: &Platform) -> bool {
        let variant = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v.map(str::to_string),
        };
        self.os == have.os
            && self.architecture == have.architecture
            && (self.variant.is_none() || variant(self) == variant(have))
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Picks the entry for `want` among `(platform, item)` pairs: the first that `want` accepts,
/// preferring this machine's variant when `want` names none.
///
/// # Errors
/// None fits; the message lists the platforms there are and how to choose one.
pub fn choose<'a, T>(
    entries: &'a [(Platform, T)],
    want: &Platform,
    explicit: bool,
    what: &str,
) -> Result<&'a T> {
    let fits: Vec<&(Platform, T)> = entries.iter().filter(|(p, _)| want.accepts(p)).collect();
    let host = Platform::host();
    if let Some((_, item)) = fits
        .iter()
        .find(|(p, _)| want.variant.is_some() || host.accepts(p) && p.variant == host.variant)
        .or_else(|| fits.first())
    {
        return Ok(item);
    }
    let mut have: Vec<String> = entries.iter().map(|(p, _)| p.to_string()).collect();
    have.sort();
    have.dedup();
    let why = if explicit {
        format!("--platform {want}")
    } else {
        format!("this machine's platform ({want})")
    };
    Err(Error::BadInput(format!(
        "{what} has no image for {why}: it has {}; choose one with --platform OS/ARCH[/VARIANT]",
        have.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        Platform::parse(s).expect("platform")
    }

    #[test]
    fn platforms_parse_and_print_as_typed() {
        assert_eq!(p("linux/arm/v7").to_string(), "linux/arm/v7");
        assert_eq!(p("linux/amd64").variant, None);
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux/amd 64"] {
            let err = Platform::parse(bad).expect_err(bad).to_string();
            assert!(err.contains("OS/ARCH[/VARIANT]"), "{bad}: {err}");
        }
        assert_eq!(Platform::host().os, "linux");
    }

    #[test]
    fn a_variant_narrows_the_choice_and_a_missing_platform_lists_the_others() {
        let entries = vec![
            (p("linux/arm/v6"), "v6"),
            (p("linux/arm/v7"), "v7"),
            (p("linux/arm64"), "arm64"),
            (p("linux/amd64"), "amd64"),
        ];
        assert_eq!(
            *choose(&entries, &p("linux/arm/v7"), true, "x").expect("v7"),
            "v7"
        );
        assert_eq!(
            *choose(&entries, &p("linux/arm64/v8"), true, "x").expect("v8"),
            "arm64"
        );
        assert_eq!(
            *choose(&entries, &p("linux/amd64"), true, "x").expect("amd64"),
            "amd64"
        );
        let err = choose(&entries, &p("linux/s390x"), true, "'img'")
            .expect_err("none")
            .to_string();
        assert!(
            err.contains("linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64")
                && err.contains("--platform linux/s390x"),
            "{err}"
        );
    }
}
