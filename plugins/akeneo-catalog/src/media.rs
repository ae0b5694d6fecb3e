//! Image attributes to canonical media references, in gallery order.
//!
//! The gallery is a list of image attributes (`pim_catalog_image`) in order,
//! the first the primary image: by default `image`, `gallery_1`, `gallery_2`,
//! `gallery_3`. Each value's `data` is a media file's code
//! (`a/b/c/tee_front.jpg`); the URL is the configured media base URL joined
//! with the code, or else the value's `_links.download.href` (Akeneo's API
//! download, which needs the API token), or else the code itself for a
//! destination that resolves codes. Asset collections (Akeneo Enterprise) are
//! not read. It does not know the rest of the product.

use tenon_sdk::canonical::MediaRef;

/// A value of an image attribute: what this module needs of one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Image<'a> {
    pub code: &'a str,
    /// `_links.download.href`, if the PIM gave it.
    pub download: Option<&'a str>,
}

/// Percent-encodes a media code for a URL path, keeping its `/`s.
fn encode_path(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    for byte in code.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Where the destination fetches `image`.
fn url(image: Image, base_url: Option<&str>) -> String {
    match (base_url, image.download) {
        (Some(base), _) => format!(
            "{}/{}",
            base.trim_end_matches('/'),
            encode_path(image.code.trim_start_matches('/'))
        ),
        (None, Some(download)) if !download.is_empty() => download.to_owned(),
        _ => image.code.to_owned(),
    }
}

/// The gallery: one reference per image, in the order given (the attributes'
/// order), each URL once.
pub(crate) fn gallery<'a>(
    images: impl IntoIterator<Item = Image<'a>>,
    base_url: Option<&str>,
) -> Vec<MediaRef> {
    let mut out: Vec<MediaRef> = Vec::new();
    for image in images {
        if image.code.trim().is_empty() {
            continue;
        }
        let url = url(image, base_url);
        if out.iter().all(|media| media.url != url) {
            out.push(MediaRef {
                url,
                label: Default::default(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRONT: Image = Image {
        code: "a/b/tee front.jpg",
        download: Some(
            "https://pim.example.com/api/rest/v1/media-files/a/b/tee%20front.jpg/download",
        ),
    };
    const BACK: Image = Image {
        code: "a/b/tee_back.jpg",
        download: None,
    };

    fn urls(media: &[MediaRef]) -> Vec<&str> {
        media.iter().map(|m| m.url.as_str()).collect()
    }

    #[test]
    fn a_media_base_url_takes_the_code_else_the_download_link_else_the_code() {
        assert_eq!(
            urls(&gallery(
                [FRONT, BACK],
                Some("https://cdn.example.com/pim/")
            )),
            [
                "https://cdn.example.com/pim/a/b/tee%20front.jpg",
                "https://cdn.example.com/pim/a/b/tee_back.jpg"
            ]
        );
        assert_eq!(
            urls(&gallery([FRONT, BACK], None)),
            [FRONT.download.unwrap(), "a/b/tee_back.jpg"]
        );
    }

    #[test]
    fn the_order_is_kept_and_a_repeated_or_blank_image_left_out() {
        let blank = Image {
            code: " ",
            download: None,
        };
        let media = gallery([BACK, blank, FRONT, BACK], None);
        assert_eq!(urls(&media), ["a/b/tee_back.jpg", FRONT.download.unwrap()]);
        assert!(media[0].label.is_empty());
    }
}
