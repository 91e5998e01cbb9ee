//! Assets embedded in the binary: nothing a page uses comes from anywhere
//! but this server.

use std::sync::OnceLock;

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Its name under `/assets/`.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
    /// The first 16 hex digits of its SM3 digest: the `ETag`, and the
    /// version in its URL, so a browser caches it until it changes.
    pub version: String,
}

const FILES: &[(&str, &str, &[u8])] = &[
    (
        "civitas.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/civitas.css"),
    ),
    (
        "sign-in.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/sign-in.js"),
    ),
    // sm-crypto 0.3.13 (MIT, vendor/sm-crypto-LICENSE), its browser build of
    // SM2 as published on npm: what Chinese front ends encrypt with.
    (
        "sm-crypto-sm2.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/vendor/sm-crypto-0.3.13-sm2.js"),
    ),
];

fn all() -> &'static [Asset] {
    static ASSETS: OnceLock<Vec<Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        FILES
            .iter()
            .map(|&(name, content_type, body)| Asset {
                name,
                content_type,
                body,
                version: hex::encode(&civitas_crypto::sm3::digest(body)[..8]),
            })
            .collect()
    })
}

/// The asset named `name`, if there is one.
pub fn get(name: &str) -> Option<&'static Asset> {
    all().iter().find(|a| a.name == name)
}

/// The URL of the asset `name`, versioned by its digest.
pub fn url(name: &str) -> String {
    match get(name) {
        Some(a) => format!("/assets/{}?v={}", a.name, a.version),
        None => format!("/assets/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stylesheet_is_embedded_and_versioned_by_its_content() {
        let css = get("civitas.css").expect("embedded");
        assert!(css.body.len() > 100);
        assert_eq!(css.version.len(), 16);
        assert!(url("civitas.css").ends_with(&css.version));
        assert!(get("../Cargo.toml").is_none());
    }

    /// The stylesheet loads nothing from elsewhere (fonts, images, imports).
    #[test]
    fn the_stylesheet_names_no_other_origin() {
        let css = std::str::from_utf8(get("civitas.css").expect("embedded").body).expect("UTF-8");
        for outside in ["url(", "@import", "http:", "https:", "//"] {
            let found = css
                .lines()
                .filter(|l| !l.trim_start().starts_with("/*"))
                .any(|l| l.contains(outside));
            assert!(!found, "the stylesheet has {outside}");
        }
    }
}
