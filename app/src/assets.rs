//! Static files compiled into the binary (see `build.rs`).

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// File name as in `public/` (`favicon.svg`), or `main.css`.
    pub name: &'static str,
    /// Name with a content hash (`main.3f9c0a1b2c3d.css`); served as immutable.
    pub hashed_name: &'static str,
    pub content_type: &'static str,
    /// Strong ETag derived from the content.
    pub etag: &'static str,
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// Finds an asset by its plain or hashed name. The flag tells whether the
/// hashed name was used (and the response may be cached forever).
pub fn find(name: &str) -> Option<(&'static Asset, bool)> {
    ASSETS.iter().find_map(|a| {
        if a.hashed_name == name {
            Some((a, true))
        } else if a.name == name {
            Some((a, false))
        } else {
            None
        }
    })
}

/// URL path of an asset, with its content hash.
pub fn href(name: &str) -> String {
    ASSETS.iter().find(|a| a.name == name).map_or_else(
        || format!("/assets/{name}"),
        |a| format!("/assets/{}", a.hashed_name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stylesheet_is_compiled_and_addressable_by_hash() {
        let (css, immutable) = find("main.css").expect("main.css is embedded");
        assert!(!immutable);
        assert!(css.bytes.len() > 1000, "compiled CSS should not be empty");
        assert!(
            std::str::from_utf8(css.bytes)
                .expect("utf-8")
                .contains(".site-header")
        );
        let (same, immutable) = find(css.hashed_name).expect("hashed name");
        assert!(immutable);
        assert_eq!(same.name, "main.css");
        assert_eq!(href("main.css"), format!("/assets/{}", css.hashed_name));
    }
}
