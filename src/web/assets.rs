//! The portal's files, built from `portal/` (`npm run build` writes `portal/dist/`) and embedded
//! in the binary by `build.rs`, so the one binary serves its own portal with nothing beside it.

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its path under `portal/dist/`, with `/` separators (`index.html`, `assets/app-1a2b.js`).
    pub path: &'static str,
    pub bytes: &'static [u8],
}

// `ASSETS`: every file of `portal/dist/`, sorted by path (empty when the portal was not built).
include!(concat!(env!("OUT_DIR"), "/portal_assets.rs"));

/// The file at `path`, if the portal has one.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS
        .binary_search_by(|a| a.path.cmp(path))
        .ok()
        .map(|i| &ASSETS[i])
}

/// Whether the binary holds a built portal.
pub fn built() -> bool {
    find("index.html").is_some()
}

/// The media type of a file, by its extension.
pub fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map_or("", |(_, e)| e);
    match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Whether a file may be cached for good: Vite names what it hashes under `assets/`.
pub fn immutable(path: &str) -> bool {
    path.starts_with("assets/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_sorted_so_lookups_find_every_file() {
        assert!(
            built(),
            "portal/dist is committed, so the binary holds the portal"
        );
        for asset in ASSETS {
            assert_eq!(find(asset.path).map(|a| a.path), Some(asset.path));
        }
        assert!(ASSETS.windows(2).all(|w| w[0].path < w[1].path));
    }

    #[test]
    fn media_types_follow_the_extension() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/app-1a2b.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("README"), "application/octet-stream");
    }
}
