//! Container image references: `[registry[:port]/]name[:tag][@digest]`.
//! A test is identified by a digest-pinned image only; a moving tag (one
//! that is rebuilt, e.g. `:latest`) is resolved to a digest first.

use std::fmt;

use crate::error::{Error, Result};

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Everything before the tag and digest (`registry:5000/team/node`).
    pub repository: String,
    /// The tag, if any.
    pub tag: Option<String>,
    /// The digest (`sha256:...`), if pinned.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses `text`, refusing what cannot be an image reference in one
    /// line that names it.
    pub fn parse(text: &str) -> Result<ImageRef> {
        let bad = |why: &str| {
            Error::InvalidInput(format!(
                "{text:?} is not an image reference ({why}); give [registry/]name[:tag][@sha256:<64 hex digits>]"
            ))
        };
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                let hex = digest
                    .strip_prefix("sha256:")
                    .ok_or_else(|| bad("its digest is not sha256"))?;
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad("its digest is not 64 hex digits"));
                }
                (rest, Some(digest.to_owned()))
            }
            None => (text, None),
        };
        // A ':' after the last '/' starts the tag; one before it is a port.
        let name_start = rest.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match rest[name_start..].split_once(':') {
            Some((name, tag)) => (&rest[..name_start + name.len()], Some(tag.to_owned())),
            None => (rest, None),
        };
        if repository.split('/').any(str::is_empty) || tag.as_deref() == Some("") {
            return Err(bad("it has no name"));
        }
        if repository.chars().any(char::is_whitespace) {
            return Err(bad("it has white space"));
        }
        Ok(ImageRef {
            repository: repository.to_owned(),
            tag,
            digest,
        })
    }

    /// Whether a digest pins it.
    pub fn is_pinned(&self) -> bool {
        self.digest.is_some()
    }

    /// The same repository and tag pinned to `digest`.
    pub fn pinned_to(&self, digest: &str) -> ImageRef {
        ImageRef {
            digest: Some(digest.to_owned()),
            ..self.clone()
        }
    }

    /// The same repository at `tag`, unpinned (what a resolver pod pulls).
    pub fn at_tag(&self, tag: &str) -> ImageRef {
        ImageRef {
            repository: self.repository.clone(),
            tag: Some(tag.to_owned()),
            digest: None,
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// The digest in a kubelet's `imageID` (`repo@sha256:...`, or
/// `sha256:...` alone), if it has one.
pub fn digest_of_image_id(image_id: &str) -> Option<String> {
    let digest = image_id.rsplit_once('@').map_or(image_id, |(_, d)| d);
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| digest.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_parse_with_ports_tags_and_digests_and_print_back() {
        for (text, repo, tag, pinned) in [
            ("tmpnet/litecoind", "tmpnet/litecoind", None, false),
            (
                "tmpnet/litecoind:latest",
                "tmpnet/litecoind",
                Some("latest"),
                false,
            ),
            (
                "localhost:5000/node:v2",
                "localhost:5000/node",
                Some("v2"),
                false,
            ),
            ("localhost:5000/node", "localhost:5000/node", None, false),
        ] {
            let image = ImageRef::parse(text).unwrap();
            assert_eq!(image.repository, repo, "{text}");
            assert_eq!(image.tag.as_deref(), tag, "{text}");
            assert_eq!(image.is_pinned(), pinned);
            assert_eq!(image.to_string(), text);
        }
        let pinned = format!("localhost:5000/node:latest@{D}");
        let image = ImageRef::parse(&pinned).unwrap();
        assert_eq!(image.digest.as_deref(), Some(D));
        assert_eq!(image.tag.as_deref(), Some("latest"));
        assert_eq!(image.to_string(), pinned);
        let moving = ImageRef::parse("node:latest").unwrap();
        assert_eq!(moving.pinned_to(D).to_string(), format!("node:latest@{D}"));
        assert_eq!(image.at_tag("next").to_string(), "localhost:5000/node:next");
    }

    #[test]
    fn what_is_no_reference_is_refused_in_one_line() {
        for text in ["", "node:", "node@sha256:12", "node@md5:00", "/node", "a b"] {
            let err = ImageRef::parse(text).unwrap_err().to_string();
            assert!(err.contains("not an image reference"), "{text}: {err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn the_kubelets_image_id_gives_its_digest() {
        assert_eq!(
            digest_of_image_id(&format!("docker.io/tmpnet/node@{D}")).as_deref(),
            Some(D)
        );
        assert_eq!(digest_of_image_id(D).as_deref(), Some(D));
        assert_eq!(digest_of_image_id("docker.io/tmpnet/node:latest"), None);
    }
}
