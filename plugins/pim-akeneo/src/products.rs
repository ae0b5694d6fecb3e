//! The `products` stream: the products changed since the cursor that pass the
//! enrichment filter, each with the paths of its categories; and, after a
//! category was renamed or moved, the products under it once more.
//!
//! # Cursor
//! `{"products": "<updated>|<identifier>", "categories": {"time": "<updated>",
//! "codes": [...]}, "sweep": {...}}` (JSON):
//! - `products` is the [`Watermark`] of the products read: each read searches
//!   `updated` after the second before it (Akeneo's search is strict and in
//!   whole seconds) and skips what it already delivered.
//! - `categories` is the newest category change already reflected: its time
//!   and the categories changed then (several may share a second). Each read
//!   fetches the tree anyway (for the paths); a category changed after it
//!   (a rename moves its `updated`, its products' `updated` stays) starts a
//!   `sweep`: the products in that category or under it (`categories` `IN`
//!   the subtree, the enrichment filter too) are read again, with a watermark
//!   of their own, before reading goes on; then `categories` moves to the
//!   tree's newest change when the sweep began.
//!
//! The first read (no cursor, or a cursor of the earlier `updated|identifier`
//! form, which is read again from the start once) takes the tree as it is: no
//! sweep, since every product is read anyway.
//!
//! It does not interpret values: locales, channels, media and associations are
//! the transform's.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tenon_sdk::prelude::*;

use crate::Settings;
use crate::categories::{Changes, Step, Tree};
use crate::listing::{self, MAX_PAGE, Order, Position};

/// The product list path.
pub(crate) const LIST: &str = "/api/rest/v1/products";

/// The most PIM pages one walk through the product list takes.
const MAX_PAGES_PER_READ: u32 = 20;

/// JSON Schema of a `products` payload.
pub(crate) const SCHEMA: &str = r#"{
  "type": "object",
  "required": ["identifier", "values", "updated"],
  "properties": {
    "identifier": {"type": "string"},
    "family": {"type": ["string", "null"]},
    "categories": {"type": "array", "items": {"type": "string"}, "description": "category codes"},
    "category_paths": {
      "type": "object",
      "description": "per category code, the categories from the root down to it",
      "additionalProperties": {
        "type": "array",
        "items": {
          "type": "object",
          "required": ["code"],
          "properties": {
            "code": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}
          }
        }
      }
    },
    "enabled": {"type": "boolean"},
    "parent": {"type": ["string", "null"], "description": "product model code of a variant product; null for a simple product"},
    "values": {
      "type": "object",
      "additionalProperties": {
        "type": "array",
        "items": {
          "type": "object",
          "required": ["data"],
          "properties": {
            "locale": {"type": ["string", "null"]},
            "scope": {"type": ["string", "null"]},
            "data": {}
          }
        }
      }
    },
    "associations": {"type": ["object", "array"], "description": "type to {products, product_models, groups}"},
    "quantified_associations": {"type": ["object", "array"], "description": "type to {products: [{identifier, quantity}], product_models}"},
    "completenesses": {
      "type": "array",
      "items": {
        "type": "object",
        "properties": {
          "scope": {"type": "string"},
          "locale": {"type": "string"},
          "data": {"type": "integer"}
        }
      }
    },
    "created": {"type": "string", "format": "date-time"},
    "updated": {"type": "string", "format": "date-time"}
  }
}"#;

/// Where the stream stands (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// The last product read: `updated|identifier`.
    #[serde(default)]
    products: String,
    /// The newest category change reflected.
    #[serde(default)]
    categories: Changes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sweep: Option<Sweep>,
}

/// Reading the products of changed categories again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Sweep {
    /// The changed categories and everything under them.
    categories: Vec<String>,
    /// The last of their products read again: `updated|identifier`.
    #[serde(default)]
    products: String,
    /// What the cursor's `categories` becomes once the sweep is done.
    until: Changes,
}

impl Cursor {
    /// The cursor a read was given; the earlier `updated|identifier` form
    /// starts again from the beginning, to read every product once with its
    /// category paths.
    fn decode(cursor: Option<&str>) -> Result<Cursor, Error> {
        match cursor {
            Some(text) if text.trim_start().starts_with('{') => {
                serde_json::from_str(text).map_err(|e| {
                    Error::permanent(format!("cursor `{text}` is not a product cursor: {e}"))
                })
            }
            _ => Ok(Cursor::default()),
        }
    }

    fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn products(&self) -> Watermark {
        Watermark::decode(&self.products)
    }

    /// Starts a sweep if categories changed since the last read, or takes the
    /// tree as it is on the first read.
    fn plan(&mut self, tree: &Tree) {
        if self.sweep.is_some() {
            return;
        }
        if self.products().is_start() {
            self.categories = tree.newest();
            return;
        }
        let changed = tree.changed_since(&self.categories);
        if !changed.is_empty() {
            self.sweep = Some(Sweep {
                categories: tree.subtrees(&changed),
                products: String::new(),
                until: tree.newest(),
            });
        }
    }
}

/// `(updated, identifier)` of a product record.
fn position(product: &Value) -> Result<Position, Error> {
    match (product["identifier"].as_str(), product["updated"].as_str()) {
        (Some(identifier), Some(updated)) => Ok(Position {
            time: updated.to_owned(),
            key: identifier.to_owned(),
        }),
        _ => Err(Error::permanent(
            "the PIM returned a product without identifier or updated",
        )),
    }
}

/// The `search` of a product walk from `mark`: changed since, in `categories`
/// if given, complete enough if `completeness` is set; `None` when nothing
/// filters.
fn search(
    mark: &Watermark,
    categories: Option<&[String]>,
    completeness: Option<&Value>,
) -> Result<Option<String>, Error> {
    let mut search = Map::new();
    if !mark.is_start() {
        let after = tenon_sdk::cursor::second_before(&mark.time)
            .map(|t| t.sql())
            .ok_or_else(|| {
                Error::permanent(format!("cursor time `{}` is not a date-time", mark.time))
            })?;
        search.insert("updated".into(), json!([{"operator": ">", "value": after}]));
    }
    if let Some(codes) = categories {
        search.insert(
            "categories".into(),
            json!([{"operator": "IN", "value": codes}]),
        );
    }
    if let Some(condition) = completeness {
        search.insert("completeness".into(), json!([condition]));
    }
    Ok((!search.is_empty()).then(|| Value::Object(search).to_string()))
}

/// The products after `mark` (in `categories` if given), at most `limit`.
fn walk(
    api: &Client,
    completeness: Option<&Value>,
    mark: &Watermark,
    categories: Option<&[String]>,
    limit: u32,
) -> Result<listing::Fresh, Error> {
    let mut request = api
        .get(LIST)
        .query("limit", &limit.clamp(1, MAX_PAGE).to_string())
        .query("with_completenesses", "true");
    if let Some(search) = search(mark, categories, completeness)? {
        request = request.query("search", &search);
    }
    listing::after(
        api,
        request,
        ("product", Order::ByTime, MAX_PAGES_PER_READ),
        mark,
        limit,
        position,
    )
}

/// Adds `category_paths` to `product` and says its source time: its
/// `updated`, or the `updated` of a category on its paths when later.
fn with_paths(product: &mut Value, tree: &Tree) -> String {
    let mut time = product["updated"].as_str().unwrap_or_default().to_owned();
    let mut paths = Map::new();
    let codes: Vec<String> = product["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    for code in codes {
        let Some(path) = tree.path(&code) else {
            continue;
        };
        for category in &path {
            if category.updated > time {
                time.clone_from(&category.updated);
            }
        }
        let steps: Vec<Step> = path
            .iter()
            .map(|c| Step {
                code: &c.code,
                labels: &c.labels,
            })
            .collect();
        paths.insert(code, json!(steps));
    }
    if let Some(object) = product.as_object_mut() {
        object.insert("category_paths".into(), Value::Object(paths));
    }
    time
}

/// The `products` stream: at most `limit` products, the sweep's first.
pub(crate) fn read(settings: &Settings, cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let completeness = settings.completeness_condition()?;
    let completeness = completeness.as_ref();
    let api = settings.client();
    let limit = limit.clamp(1, MAX_PAGE);
    let given = Cursor::decode(cursor)?;
    let tree = Tree::fetch(&api)?;
    let mut cursor = given.clone();
    cursor.plan(&tree);

    let mut products: Vec<(Position, Value)> = Vec::new();
    let mut more = false;
    let mut swept = 0;
    if let Some(sweep) = &mut cursor.sweep {
        let fresh = walk(
            &api,
            completeness,
            &Watermark::decode(&sweep.products),
            Some(&sweep.categories),
            limit,
        )?;
        sweep.products = fresh.mark.encode();
        swept = fresh.items.len();
        products = fresh.items;
        if fresh.more {
            more = true;
        } else {
            cursor.categories = sweep.until.clone();
            cursor.sweep = None;
        }
    }
    let room = limit.saturating_sub(u32::try_from(products.len()).unwrap_or(limit));
    if cursor.sweep.is_none() && room > 0 {
        let fresh = walk(&api, completeness, &cursor.products(), None, room)?;
        cursor.products = fresh.mark.encode();
        more |= fresh.more;
        for (at, product) in fresh.items {
            if products.iter().all(|(seen, _)| seen.key != at.key) {
                products.push((at, product));
            }
        }
    }

    let mut records = Vec::with_capacity(products.len());
    for (at, mut product) in products {
        let time = with_paths(&mut product, &tree);
        records.push(Envelope::upsert(
            crate::PRODUCTS,
            &at.key,
            &product,
            Some(&time),
        )?);
    }
    let moved = cursor != given;
    log::info(format!(
        "count={} swept={swept} more={more} cursor={} Read products.",
        records.len(),
        cursor.encode()
    ));
    Ok(Page {
        next_cursor: moved.then(|| cursor.encode()),
        more: more && moved,
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::categories::Category;

    fn tree(summer_updated: &str) -> Tree {
        let category = |code: &str, parent: Option<&str>, en: &str, updated: &str| {
            Category::deserialize(json!({"code": code, "parent": parent, "updated": updated,
                "labels": {"en_US": en, "fr_FR": format!("{en} (FR)")}}))
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
            category("summer", Some("clothing"), "Summer", summer_updated),
            category("home", Some("master"), "Home", "2026-10-01T09:00:00+00:00"),
        ])
    }

    fn changes(time: &str, codes: &[&str]) -> Changes {
        Changes {
            time: time.into(),
            codes: codes.iter().map(|&c| c.to_owned()).collect(),
        }
    }

    #[test]
    fn cursors_round_trip_and_the_old_form_starts_over() {
        assert_eq!(Cursor::decode(None).unwrap(), Cursor::default());
        assert_eq!(
            Cursor::decode(Some("2026-11-01T09:01:00+00:00|SKU-0001")).unwrap(),
            Cursor::default(),
            "read everything once more, with category paths"
        );
        let cursor = Cursor {
            products: "2026-11-01T09:01:00+00:00|SKU-0001".into(),
            categories: changes("2026-10-01T09:00:00+00:00", &["home", "summer"]),
            sweep: Some(Sweep {
                categories: vec!["summer".into()],
                products: String::new(),
                until: changes("2026-10-03T09:00:00+00:00", &["summer"]),
            }),
        };
        let text = cursor.encode();
        assert!(text.contains("SKU-0001"), "{text}");
        assert_eq!(Cursor::decode(Some(&text)).unwrap(), cursor);
        assert!(Cursor::decode(Some("{not json")).is_err());
    }

    #[test]
    fn a_category_change_plans_a_sweep_of_its_subtree_but_not_on_the_first_read() {
        let before = tree("2026-10-01T09:00:00+00:00");
        let mut first = Cursor::default();
        first.plan(&before);
        assert_eq!(first.sweep, None);
        assert_eq!(
            first.categories,
            changes(
                "2026-10-01T09:00:00+00:00",
                &["clothing", "home", "master", "summer"]
            )
        );

        let mut later = Cursor {
            products: "2026-11-01T09:01:00+00:00|SKU-0001".into(),
            ..first.clone()
        };
        let unchanged = later.clone();
        later.plan(&before);
        assert_eq!(later, unchanged, "nothing changed");

        let renamed = tree("2026-11-05T10:00:00+00:00");
        later.plan(&renamed);
        let sweep = later.sweep.clone().expect("a sweep");
        assert_eq!(sweep.categories, ["summer"]);
        assert_eq!(
            sweep.until,
            changes("2026-11-05T10:00:00+00:00", &["summer"])
        );
        let planned = later.clone();
        later.plan(&tree("2026-11-06T10:00:00+00:00"));
        assert_eq!(later, planned, "one sweep at a time");

        let mut moved = unchanged.clone();
        moved.categories = changes("2026-09-01T00:00:00+00:00", &["x"]);
        moved.plan(&before);
        assert_eq!(
            moved.sweep.unwrap().categories,
            ["clothing", "home", "master", "summer"],
            "a change of the root reaches every category"
        );
    }

    #[test]
    fn the_search_combines_the_watermark_the_sweep_and_the_enrichment_filter() {
        assert_eq!(search(&Watermark::start(), None, None).unwrap(), None);
        let mark = Watermark::new("2026-11-01T09:01:00+00:00", "SKU-0001");
        let condition = json!({"operator": ">=", "value": 100, "scope": "ecommerce"});
        let text = search(&mark, Some(&["summer".to_owned()]), Some(&condition))
            .unwrap()
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({
                "updated": [{"operator": ">", "value": "2026-11-01 09:00:59"}],
                "categories": [{"operator": "IN", "value": ["summer"]}],
                "completeness": [{"operator": ">=", "value": 100, "scope": "ecommerce"}],
            })
        );
        assert!(search(&Watermark::new("yesterday", "x"), None, None).is_err());
    }

    #[test]
    fn a_product_carries_its_category_paths_and_the_later_time() {
        let tree = tree("2026-11-05T10:00:00+00:00");
        let mut product = json!({"identifier": "TEE", "updated": "2026-11-01T09:01:00+00:00",
            "categories": ["summer", "home", "gone"]});
        let time = with_paths(&mut product, &tree);
        assert_eq!(
            time, "2026-11-05T10:00:00+00:00",
            "summer was renamed later"
        );
        let paths = &product["category_paths"];
        let codes: Vec<&str> = paths["summer"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, ["master", "clothing", "summer"]);
        assert_eq!(paths["summer"][2]["labels"]["fr_FR"], "Summer (FR)");
        assert_eq!(paths["home"][1]["labels"]["en_US"], "Home");
        assert!(paths.get("gone").is_none(), "unknown to the tree");

        let mut plain = json!({"identifier": "MUG", "updated": "2026-11-01T09:01:00+00:00"});
        assert_eq!(with_paths(&mut plain, &tree), "2026-11-01T09:01:00+00:00");
        assert_eq!(plain["category_paths"], json!({}));
    }

    #[test]
    fn a_product_without_identifier_or_updated_is_refused() {
        assert!(position(&json!({"identifier": "A"})).is_err());
        assert_eq!(
            position(&json!({"identifier": "A", "updated": "t"})).unwrap(),
            Position {
                time: "t".into(),
                key: "A".into()
            }
        );
    }
}
