//! The category tree of the PIM (`GET /api/rest/v1/categories`, every page):
//! paths from a root down to a category, which categories changed after a
//! watermark and what lies under them; and the `categories` stream.
//!
//! The `categories` stream's cursor is a [`Watermark`] over `(updated, code)`;
//! it searches `{"updated": [{"operator": ">", "value": "<one second before
//! the watermark>"}]}` (Akeneo 6.0 and SaaS filter categories by `updated`),
//! walks every page (categories come root/left, not by time) and keeps what
//! is after the watermark.
//!
//! It does not read products.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use tenon_sdk::prelude::*;

use crate::listing::{self, MAX_PAGE, Order, Position};

/// The category list path.
pub(crate) const LIST: &str = "/api/rest/v1/categories";

/// The most category pages the tree or one read of the stream walks: 5,000
/// categories at Akeneo's largest page.
const MAX_PAGES: u32 = 50;

/// JSON Schema of a `categories` payload.
pub(crate) const SCHEMA: &str = r#"{
  "type": "object",
  "required": ["code"],
  "properties": {
    "code": {"type": "string", "minLength": 1},
    "parent": {"type": ["string", "null"], "description": "the parent's code; null for a root (a tree)"},
    "labels": {"type": "object", "additionalProperties": {"type": "string"}, "description": "name per locale"},
    "updated": {"type": "string", "format": "date-time"}
  }
}"#;

/// A category as the PIM lists it: the fields the tree needs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Category {
    pub code: String,
    #[serde(default)]
    pub parent: Option<String>,
    /// Empty when the PIM does not say (before Akeneo 6.0).
    #[serde(default)]
    pub updated: String,
    #[serde(default, deserialize_with = "map_or_empty_list")]
    pub labels: BTreeMap<String, String>,
}

/// A PHP-made map: `{}` or, when empty, sometimes `[]`.
pub(crate) fn map_or_empty_list<'de, D, T>(deserializer: D) -> Result<BTreeMap<String, T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum MapOrList<T> {
        Map(BTreeMap<String, T>),
        List(Vec<Value>),
    }
    match Option::<MapOrList<T>>::deserialize(deserializer)? {
        Some(MapOrList::Map(map)) => Ok(map),
        Some(MapOrList::List(list)) if list.is_empty() => Ok(BTreeMap::new()),
        Some(MapOrList::List(_)) => Err(serde::de::Error::custom("expected a map")),
        None => Ok(BTreeMap::new()),
    }
}

/// One step of a path: what a product record carries in `category_paths`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Step<'a> {
    pub code: &'a str,
    pub labels: &'a BTreeMap<String, String>,
}

/// How far category changes were taken into account: the newest `updated`
/// seen, and the codes of the categories changed then (several may share a
/// second).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Changes {
    #[serde(default)]
    pub time: String,
    #[serde(default)]
    pub codes: Vec<String>,
}

/// The whole category tree.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    categories: BTreeMap<String, Category>,
}

impl Tree {
    /// Every category of the PIM, page by page.
    pub(crate) fn fetch(api: &Client) -> Result<Tree, Error> {
        let mut request = api.get(LIST).query("limit", &MAX_PAGE.to_string());
        let mut categories = Vec::new();
        for number in 1..=MAX_PAGES {
            let page = listing::decode(&request.send()?.error_for_status()?, "category", number)?;
            let next = page.next().map(str::to_owned);
            for item in page.into_items() {
                categories.push(Category::deserialize(item).map_err(|e| {
                    Error::permanent(format!("the PIM returned a category without a code: {e}"))
                })?);
            }
            match next {
                Some(href) => request = listing::follow(api, &href)?,
                None => return Ok(Tree::of(categories)),
            }
        }
        Err(Error::permanent(format!(
            "the PIM has more than {MAX_PAGES} pages of categories"
        )))
    }

    pub(crate) fn of(categories: Vec<Category>) -> Tree {
        Tree {
            categories: categories
                .into_iter()
                .map(|c| (c.code.clone(), c))
                .collect(),
        }
    }

    /// The categories from the root down to `code`, `None` for a code the
    /// tree does not have. A parent the tree lacks ends the path there, and a
    /// cycle is cut.
    pub(crate) fn path(&self, code: &str) -> Option<Vec<&Category>> {
        let mut path = vec![self.categories.get(code)?];
        while let Some(parent) = path.last().and_then(|c| c.parent.as_deref()) {
            let Some(parent) = self.categories.get(parent) else {
                break;
            };
            if path.iter().any(|c| c.code == parent.code) {
                break;
            }
            path.push(parent);
        }
        path.reverse();
        Some(path)
    }

    /// The newest change of the tree: its time and every category changed
    /// then.
    pub(crate) fn newest(&self) -> Changes {
        let time = self
            .categories
            .values()
            .map(|c| c.updated.as_str())
            .max()
            .unwrap_or_default();
        Changes {
            time: time.to_owned(),
            codes: self
                .categories
                .values()
                .filter(|c| c.updated == time)
                .map(|c| c.code.clone())
                .collect(),
        }
    }

    /// The codes of the categories changed since `seen`: later, or at its
    /// time but not among its codes (a change in the same second).
    pub(crate) fn changed_since(&self, seen: &Changes) -> Vec<String> {
        self.categories
            .values()
            .filter(|c| {
                c.updated > seen.time || (c.updated == seen.time && !seen.codes.contains(&c.code))
            })
            .map(|c| c.code.clone())
            .collect()
    }

    /// `codes` and every category under them, sorted: what a rename or a move
    /// of `codes` changes the paths of.
    pub(crate) fn subtrees(&self, codes: &[String]) -> Vec<String> {
        let mut found: BTreeSet<String> = codes.iter().cloned().collect();
        loop {
            let before = found.len();
            for category in self.categories.values() {
                if category.parent.as_ref().is_some_and(|p| found.contains(p)) {
                    found.insert(category.code.clone());
                }
            }
            if found.len() == before {
                return found.into_iter().collect();
            }
        }
    }
}

/// `(updated, code)` of a category record.
fn position(item: &Value) -> Result<Position, Error> {
    let category = Category::deserialize(item).map_err(|e| {
        Error::permanent(format!("the PIM returned a category without a code: {e}"))
    })?;
    Ok(Position {
        time: category.updated,
        key: category.code,
    })
}

/// The `categories` stream: the categories changed after the cursor, at most
/// `limit`, oldest first.
pub(crate) fn read(api: &Client, cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let mark = Watermark::from_cursor(cursor);
    // Every page is walked whatever `limit` is: the largest pages.
    let mut request = api.get(LIST).query("limit", &MAX_PAGE.to_string());
    if !mark.is_start() {
        let after = tenon_sdk::cursor::second_before(&mark.time)
            .map(|t| t.rfc3339())
            .ok_or_else(|| {
                Error::permanent(format!("cursor time `{}` is not a date-time", mark.time))
            })?;
        let search = serde_json::json!({"updated": [{"operator": ">", "value": after}]});
        request = request.query("search", &search.to_string());
    }
    let fresh = listing::after(
        api,
        request,
        ("category", Order::Other, MAX_PAGES),
        &mark,
        limit,
        position,
    )?;
    let mut records = Vec::with_capacity(fresh.items.len());
    for (at, category) in &fresh.items {
        let time = (!at.time.is_empty()).then_some(at.time.as_str());
        records.push(Envelope::upsert(
            crate::CATEGORIES,
            &at.key,
            category,
            time,
        )?);
    }
    log::info(format!(
        "count={} more={} cursor={} Read categories.",
        records.len(),
        fresh.more,
        fresh.mark
    ));
    Ok(Page {
        next_cursor: (!records.is_empty()).then(|| fresh.mark.encode()),
        more: fresh.more && !records.is_empty(),
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tree() -> Tree {
        let category = |code: &str, parent: Option<&str>, en: &str, updated: &str| {
            Category::deserialize(json!({"code": code, "parent": parent, "updated": updated,
                "labels": {"en_US": en}}))
            .unwrap()
        };
        Tree::of(vec![
            category(
                "master",
                None,
                "Master catalog",
                "2026-10-01T09:00:00+00:00",
            ),
            category(
                "clothing",
                Some("master"),
                "Clothing",
                "2026-10-01T09:00:00+00:00",
            ),
            category(
                "summer",
                Some("clothing"),
                "Summer",
                "2026-10-02T09:00:00+00:00",
            ),
            category("home", Some("master"), "Home", "2026-10-01T09:00:00+00:00"),
            category("loop-a", Some("loop-b"), "A", "2026-10-01T09:00:00+00:00"),
            category("loop-b", Some("loop-a"), "B", "2026-10-01T09:00:00+00:00"),
            category(
                "orphan",
                Some("gone"),
                "Orphan",
                "2026-10-01T09:00:00+00:00",
            ),
        ])
    }

    fn codes(path: Option<Vec<&Category>>) -> Option<Vec<&str>> {
        path.map(|p| p.into_iter().map(|c| c.code.as_str()).collect())
    }

    #[test]
    fn paths_run_from_the_root_down_and_survive_a_broken_tree() {
        let tree = tree();
        assert_eq!(
            codes(tree.path("summer")),
            Some(vec!["master", "clothing", "summer"])
        );
        assert_eq!(codes(tree.path("master")), Some(vec!["master"]));
        assert_eq!(
            codes(tree.path("orphan")),
            Some(vec!["orphan"]),
            "parent unknown"
        );
        assert_eq!(
            codes(tree.path("loop-a")),
            Some(vec!["loop-b", "loop-a"]),
            "cycle cut"
        );
        assert_eq!(codes(tree.path("attic")), None);
    }

    #[test]
    fn a_change_reaches_everything_under_the_category() {
        let tree = tree();
        let newest = tree.newest();
        assert_eq!(
            (newest.time.as_str(), newest.codes.as_slice()),
            (
                "2026-10-02T09:00:00+00:00",
                ["summer".to_owned()].as_slice()
            )
        );
        assert!(tree.changed_since(&newest).is_empty());
        let before = Changes {
            time: "2026-10-01T09:00:00+00:00".into(),
            codes: ["clothing", "home", "loop-a", "loop-b", "master", "orphan"]
                .map(str::to_owned)
                .to_vec(),
        };
        assert_eq!(tree.changed_since(&before), ["summer"]);
        let same_second = Changes {
            codes: vec!["master".into()],
            ..before
        };
        assert_eq!(
            tree.changed_since(&same_second),
            ["clothing", "home", "loop-a", "loop-b", "orphan", "summer"],
            "changed in the second seen, whatever their codes"
        );
        assert_eq!(
            tree.subtrees(&["clothing".to_owned()]),
            ["clothing", "summer"]
        );
        assert_eq!(tree.subtrees(&["home".to_owned()]), ["home"]);
    }

    #[test]
    fn empty_labels_may_come_as_a_list() {
        let category: Category =
            serde_json::from_value(json!({"code": "x", "parent": null, "labels": []})).unwrap();
        assert!(category.labels.is_empty());
        assert_eq!(category.updated, "", "older PIMs do not say");
        assert!(serde_json::from_value::<Category>(json!({"code": "x", "labels": ["a"]})).is_err());
    }
}
