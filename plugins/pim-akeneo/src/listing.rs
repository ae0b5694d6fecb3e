//! Akeneo's paged lists (`{"_links": {"next": {"href"}}, "_embedded":
//! {"items": [...]}}`): decoding one page, following `_links.next` without
//! leaving `base_url`, and the items after a [`Watermark`].
//!
//! It knows nothing of products or categories beyond the `(time, key)` of an
//! item, which its caller says how to read.

use serde::Deserialize;
use serde_json::Value;
use tenon_sdk::http::{Request, Response};
use tenon_sdk::prelude::*;

/// Akeneo's largest page.
pub(crate) const MAX_PAGE: u32 = 100;

/// One page of a list.
#[derive(Debug, Deserialize)]
pub(crate) struct ListPage {
    #[serde(rename = "_links", default)]
    links: Links,
    #[serde(rename = "_embedded")]
    embedded: Embedded,
}

impl ListPage {
    /// The href of the next page, if one follows.
    pub(crate) fn next(&self) -> Option<&str> {
        self.links.next.as_ref().map(|link| link.href.as_str())
    }

    pub(crate) fn into_items(self) -> Vec<Value> {
        self.embedded.items
    }
}

#[derive(Debug, Default, Deserialize)]
struct Links {
    next: Option<Link>,
}

#[derive(Debug, Deserialize)]
struct Link {
    href: String,
}

#[derive(Debug, Deserialize)]
struct Embedded {
    items: Vec<Value>,
}

/// Where an item stands: `(time, key)`, as the PIM wrote them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Position {
    pub time: String,
    pub key: String,
}

/// Page `number` of a list of `noun`s (`product`, `category`), decoded. A body
/// cut short (a proxy or a PIM under load dropped the connection) is
/// retryable: a read changes nothing, so asking again is harmless. Anything
/// else that does not decode is permanent.
pub(crate) fn decode(response: &Response, noun: &str, number: u32) -> Result<ListPage, Error> {
    let body = response.body();
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        if e.is_eof() {
            Error::retryable(format!(
                "the PIM's answer to {noun} page {number} was cut short after {} bytes ({e}); \
                 the next read asks again",
                body.len()
            ))
        } else {
            Error::permanent(format!(
                "the PIM answered {noun} page {number} with a body that is not JSON ({e}): \
                 is base_url an Akeneo API?"
            ))
        }
    })?;
    ListPage::deserialize(value).map_err(|e| {
        Error::permanent(format!(
            "the PIM answered {noun} page {number} with JSON that is not a {noun} page ({e}): is base_url an Akeneo API?"
        ))
    })
}

/// The path of a `_links` href, absolute under `base_url` or relative; any
/// other host would get the tenant's token, so it is refused.
pub(crate) fn relative<'a>(base_url: &str, href: &'a str) -> Result<&'a str, Error> {
    if let Some(path) = href.strip_prefix(base_url)
        && path.starts_with('/')
    {
        return Ok(path);
    }
    if href.starts_with('/') && !href.starts_with("//") {
        return Ok(href);
    }
    Err(Error::permanent(format!(
        "the PIM linked to `{href}`, outside base_url"
    )))
}

/// The request for the page `href` links to.
pub(crate) fn follow(api: &Client, href: &str) -> Result<Request, Error> {
    Ok(api.get(relative(api.base_url(), href)?))
}

/// How a walk through a list may stop early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Pages come sorted by time (Akeneo's product list with an `updated`
    /// search): once more than a page of new items is seen, the rest can wait.
    ByTime,
    /// Pages come in another order (categories: root/left): every page must be
    /// seen before the oldest new items are known.
    Other,
}

/// What [`after`] found: the first `limit` new items in `(time, key)` order,
/// the watermark after the last of them, and whether more are left.
#[derive(Debug)]
pub(crate) struct Fresh {
    pub items: Vec<(Position, Value)>,
    pub mark: Watermark,
    pub more: bool,
}

/// The items after `mark`, at most `limit`, from the list `first` asks for
/// and the pages it links to (at most `max_pages`); `position` reads an item's
/// `(time, key)`.
pub(crate) fn after(
    api: &Client,
    first: Request,
    walk: (&str, Order, u32),
    mark: &Watermark,
    limit: u32,
    position: impl Fn(&Value) -> Result<Position, Error>,
) -> Result<Fresh, Error> {
    let (noun, order, max_pages) = walk;
    let limit = limit.max(1) as usize;
    let mut request = first;
    let mut fresh: Vec<(Position, Value)> = Vec::new();
    let mut next = None;
    for number in 1..=max_pages {
        let page = decode(&request.send()?.error_for_status()?, noun, number)?;
        next = page.next().map(str::to_owned);
        for item in page.into_items() {
            let at = position(&item)?;
            if mark.is_new(&at.time, &at.key) {
                fresh.push((at, item));
            }
        }
        let Some(href) = &next else { break };
        if order == Order::ByTime && fresh.len() > limit {
            break;
        }
        request = follow(api, href)?;
    }
    if order == Order::Other && next.is_some() {
        return Err(Error::permanent(format!(
            "the PIM has more than {max_pages} pages of {noun}s changed since `{}`",
            mark.time
        )));
    }
    fresh.sort_by(|(a, _), (b, _)| (&a.time, &a.key).cmp(&(&b.time, &b.key)));
    let more = fresh.len() > limit || next.is_some();
    fresh.truncate(limit);
    let mut mark = mark.clone();
    for (at, _) in &fresh {
        mark.advance(&at.time, &at.key);
    }
    Ok(Fresh {
        items: fresh,
        mark,
        more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_stay_under_the_base_url() {
        let base = "http://127.0.0.1:9000";
        assert_eq!(
            relative(base, "http://127.0.0.1:9000/api/rest/v1/products?page=2").unwrap(),
            "/api/rest/v1/products?page=2"
        );
        assert_eq!(relative(base, "/api/x").unwrap(), "/api/x");
        assert!(relative(base, "http://evil.example/api").is_err());
        assert!(relative(base, "//evil.example/api").is_err());
        assert!(relative(base, "http://127.0.0.1:90001/api").is_err());
    }
}
