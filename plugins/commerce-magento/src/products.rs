//! The `products` stream: canonical [`Product`]s (one record per variant)
//! written into Magento's catalogue, and listed for `reconcile`.
//!
//! A record's `group` decides the product type:
//! - a group with several variants (in the batch, or already in Magento as a
//!   configurable product of that SKU, or whose former lone variant Magento
//!   holds) is one **configurable** product, SKU = the group, and its variants
//!   are **simple** children linked by `extension_attributes
//!   .configurable_product_links` (their ids), not visible on their own
//!   (visibility 1), URL key `<group>-<sku as slug>`. The parent takes its
//!   name, media and links from the group's first variant in the batch, the
//!   description, the union of the variants' categories, and is enabled when
//!   one of them is;
//! - a lone variant is a **simple** product, visible in catalogue and search
//!   (visibility 4), URL key = its group: that is where `reconcile` finds the
//!   group again. When a second variant of the group comes later, the lone one
//!   is turned into a child (visibility 1, the child URL key) and linked.
//!
//! Each product is written with `PUT /rest/all/V1/products/{sku}` (create or
//! update, for all store views): `name` from the configured `language`, the
//! custom attribute `description`, `price` in the configured `currency`
//! (other currencies are left out: Magento prices a website in its base
//! currency), `status` 1 (enabled) or 2, `extension_attributes
//! .category_links` from `categories` (paths of names, created when missing,
//! see `categories.rs`), `media_gallery_entries` from `media` in order (the
//! first is `image`, `small_image` and `thumbnail`; the URL goes in `file`),
//! `product_links` from `links` (`related`, `upsell`, `crosssell`). A new
//! product gets the default attribute set (4) and, when `website_id` is not
//! 0, that website. A PUT sets what it names and leaves the rest, so a record
//! written twice changes nothing the second time. Batches of more than
//! `bulk_threshold` products go through the async bulk API (`bulk.rs`).
//!
//! The outcome id is the SKU. Refused, each for its record: no name in the
//! configured language, no price in the configured currency, a `bundle` link
//! (a Magento bundle is a product type of its own), a variant whose SKU is
//! its group while the group has several variants (the parent needs that
//! SKU), a delete (send `enabled: false`).
//!
//! `reconcile` lists every simple product, keyed by SKU, as the canonical
//! product: `group` = the SKU of the configurable product linking it, else
//! its URL key; `name`, `description` (left out when empty) in the configured
//! language; `prices` in the configured currency; `enabled`; `categories`
//! **sorted by path**; `media` and `links` by position.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use tenon_sdk::canonical::{MediaRef, Product, ProductLink};
use tenon_sdk::prelude::*;

use crate::categories::Tree;
use crate::criteria::{self, SearchCriteria};
use crate::listing::{self, Row};
use crate::rest::{Magento, Scope};
use crate::{PRODUCTS, Settings, bulk, money};

/// The attribute set new products get: Magento's `Default`.
const DEFAULT_ATTRIBUTE_SET: u32 = 4;

/// Visible in catalogue and search.
const VISIBLE: u8 = 4;

/// Not visible individually: a configurable product's child.
const NOT_VISIBLE: u8 = 1;

/// How long a write waits for Magento's bulk operations, in all; the call's
/// wall clock is 30 s unless the operator set another.
const BULK_WAIT: Duration = Duration::from_secs(20);

/// The link kinds Magento's `product_links` take.
const LINK_KINDS: [&str; 3] = ["related", "upsell", "crosssell"];

/// A product as Magento's product endpoints return it (the fields the stream
/// reads).
#[derive(Debug, Clone, Deserialize)]
struct Held {
    id: u64,
    sku: String,
    #[serde(default)]
    type_id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    price: Value,
    #[serde(default)]
    status: Option<u8>,
    #[serde(default)]
    custom_attributes: Vec<Attribute>,
    #[serde(default)]
    extension_attributes: HeldExtension,
    #[serde(default)]
    media_gallery_entries: Vec<HeldMedia>,
    #[serde(default)]
    product_links: Vec<HeldLink>,
}

impl listing::Item for Held {
    fn entity_id(&self) -> u64 {
        self.id
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Attribute {
    attribute_code: String,
    #[serde(default)]
    value: Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct HeldExtension {
    #[serde(default)]
    category_links: Vec<CategoryLink>,
    #[serde(default)]
    configurable_product_links: Vec<u64>,
}

#[derive(Debug, Clone, Deserialize)]
struct CategoryLink {
    category_id: Value,
}

#[derive(Debug, Clone, Deserialize)]
struct HeldMedia {
    #[serde(default)]
    file: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    position: i64,
}

#[derive(Debug, Clone, Deserialize)]
struct HeldLink {
    link_type: String,
    linked_product_sku: String,
    #[serde(default)]
    position: i64,
}

impl Held {
    /// The text of custom attribute `code`.
    fn attribute(&self, code: &str) -> Option<&str> {
        self.custom_attributes
            .iter()
            .find(|a| a.attribute_code == code)
            .and_then(|a| a.value.as_str())
    }
}

/// A checked record: what Magento should hold for one variant.
#[derive(Debug, Clone)]
struct Variant {
    sku: String,
    group: String,
    name: String,
    description: String,
    /// The price as the JSON number Magento takes.
    price: Value,
    enabled: bool,
    categories: Vec<String>,
    media: Vec<MediaRef>,
    links: Vec<ProductLink>,
}

/// Products Magento holds, by the text they were found by (SKU, URL key).
type Found = HashMap<String, Held>;

/// The variants of one group: each SKU's last version and the batch indexes
/// of all its versions.
type Members<'a> = Vec<(Vec<usize>, &'a Variant)>;

/// One product to save, and the records whose outcome it is.
#[derive(Debug)]
struct Save {
    body: Value,
    records: Vec<usize>,
}

/// A configurable product to save once its children are saved.
#[derive(Debug)]
struct Parent {
    sku: String,
    /// The product without `configurable_product_links`.
    body: Value,
    /// The SKUs of the children to link.
    children: Vec<String>,
    /// The ids Magento links already.
    linked: Vec<u64>,
    records: Vec<usize>,
}

/// What a batch asks of Magento.
#[derive(Debug, Default)]
struct Plan {
    /// Simple products, children and lone variants: saved first.
    simples: Vec<Save>,
    /// Configurable products: saved after their children.
    parents: Vec<Parent>,
    /// Records the plan refuses.
    refused: Vec<(usize, Error)>,
}

/// Writes each record; the outcome is its SKU.
pub fn write(api: &Magento, batch: &[Delivery]) -> Result<Vec<Outcome>, Error> {
    let settings = &api.settings;
    let deadline = Instant::now() + BULK_WAIT;
    let mut outcomes: Vec<Outcome> = batch
        .iter()
        .map(|d| {
            let product: Product = d.json()?;
            Ok(Some(product.sku))
        })
        .collect();
    let mut variants = Vec::new();
    for (index, delivery) in batch.iter().enumerate() {
        let checked = if delivery.envelope.op == Op::Delete {
            Err(Error::permanent(
                "products cannot be deleted through Tenon; send `enabled: false`",
            ))
        } else {
            delivery.json().and_then(|p| check(p, settings))
        };
        match checked {
            Ok(variant) => variants.push((index, variant)),
            Err(e) => outcomes[index] = Err(e),
        }
    }

    // Categories first: a product links ids.
    let mut categories = HashMap::new();
    if variants.iter().any(|(_, v)| !v.categories.is_empty()) {
        let mut tree = Tree::load(api)?;
        variants.retain(|(index, v)| {
            for path in &v.categories {
                if categories.contains_key(path) {
                    continue;
                }
                match tree.resolve(api, path) {
                    Ok(id) => {
                        categories.insert(path.clone(), id);
                    }
                    Err(e) => {
                        outcomes[*index] = Err(e.context(format!("category `{path}`")));
                        return false;
                    }
                }
            }
            true
        });
    }

    let (held, holders) = lookup(api, &variants)?;
    let plan = plan(&variants, &held, &holders, &categories, settings);
    for (index, error) in plan.refused {
        outcomes[index] = Err(error);
    }

    // The simple products, then the parents with their children's ids.
    let mut ids: HashMap<String, u64> = held.iter().map(|(sku, h)| (sku.clone(), h.id)).collect();
    let bodies: Vec<Value> = plan.simples.iter().map(|s| s.body.clone()).collect();
    let saved = save_all(api, &bodies, deadline, &mut ids)?;
    for (save, result) in plan.simples.iter().zip(saved) {
        if let Err(e) = result {
            for index in &save.records {
                outcomes[*index] = Err(e.clone());
            }
        }
    }
    let unknown: Vec<&str> = plan
        .parents
        .iter()
        .flat_map(|p| &p.children)
        .filter(|sku| !ids.contains_key(*sku))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        for h in search_skus(api, &unknown)? {
            ids.insert(h.sku, h.id);
        }
    }
    let parents: Vec<Value> = plan
        .parents
        .iter()
        .map(|p| {
            let mut body = p.body.clone();
            let mut links = p.linked.clone();
            for child in p.children.iter().filter_map(|sku| ids.get(sku)) {
                if !links.contains(child) {
                    links.push(*child);
                }
            }
            body["extension_attributes"]["configurable_product_links"] = json!(links);
            body
        })
        .collect();
    let saved = save_all(api, &parents, deadline, &mut ids)?;
    for (parent, result) in plan.parents.iter().zip(saved) {
        if let Err(e) = result {
            for index in &parent.records {
                if outcomes[*index].is_ok() {
                    outcomes[*index] = Err(e
                        .clone()
                        .context(format!("configurable product `{}`", parent.sku)));
                }
            }
        }
    }
    log::info(format!(
        "count={} simple={} configurable={} Wrote Magento products.",
        batch.len(),
        plan.simples.len(),
        plan.parents.len()
    ));
    Ok(outcomes
        .into_iter()
        .zip(batch)
        .map(|(outcome, d)| outcome.map_err(|e| e.context(format!("record `{}`", d.envelope.key))))
        .collect())
}

/// What the record asks of Magento, if Magento can hold it.
fn check(product: Product, settings: &Settings) -> Result<Variant, Error> {
    let sku = &product.sku;
    if sku.trim().is_empty() {
        return Err(Error::permanent("the sku is empty"));
    }
    if product.group.is_empty() {
        return Err(Error::permanent(format!("sku `{sku}`: the group is empty")));
    }
    let name = product.name.get(&settings.language).ok_or_else(|| {
        Error::permanent(format!(
            "sku `{sku}` has no name in `{}` (config `language`); it has {}",
            settings.language,
            listed(product.name.keys())
        ))
    })?;
    let price = product.prices.get(&settings.currency).ok_or_else(|| {
        Error::permanent(format!(
            "sku `{sku}` has no price in {} (config `currency`); it has {}",
            settings.currency,
            listed(product.prices.keys())
        ))
    })?;
    let price = money::number(price, &settings.currency)
        .map_err(|e| Error::permanent(format!("sku `{sku}`: price {e}")))?;
    if let Some(link) = product
        .links
        .iter()
        .find(|l| !LINK_KINDS.contains(&l.kind.as_str()))
    {
        return Err(Error::permanent(format!(
            "sku `{sku}`: a `{}` link to `{}` is not a Magento product link (related, upsell, crosssell); a Magento bundle is a product type of its own, which this connector does not write",
            link.kind, link.sku
        )));
    }
    Ok(Variant {
        name: name.clone(),
        description: product
            .description
            .get(&settings.language)
            .cloned()
            .unwrap_or_default(),
        price,
        enabled: product.enabled,
        categories: product.categories,
        media: product.media,
        links: product.links,
        sku: product.sku,
        group: product.group,
    })
}

/// `a`, `b` in backquotes, or `none`.
fn listed<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let items: Vec<String> = items.map(|i| format!("`{i}`")).collect();
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// The products Magento holds with the batch's SKUs and groups as SKUs (by
/// SKU), and those whose URL key is one of the groups (by URL key).
fn lookup(api: &Magento, variants: &[(usize, Variant)]) -> Result<(Found, Found), Error> {
    let mut skus: Vec<&str> = variants
        .iter()
        .flat_map(|(_, v)| [v.sku.as_str(), v.group.as_str()])
        .collect();
    skus.sort_unstable();
    skus.dedup();
    let mut groups: Vec<&str> = variants.iter().map(|(_, v)| v.group.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    if skus.is_empty() {
        return Ok((HashMap::new(), HashMap::new()));
    }
    let criteria = SearchCriteria::new()
        .any_of(&[
            ("sku", "in", &criteria::list(&skus)),
            ("url_key", "in", &criteria::list(&groups)),
        ])
        .page_size(api.settings.page_size);
    let found: Vec<Held> = criteria::all(api, Scope::All, "/products", &criteria)?;
    let mut by_sku = HashMap::new();
    let mut by_url_key = HashMap::new();
    for held in found {
        if let Some(key) = held.attribute("url_key")
            && groups.contains(&key)
        {
            by_url_key.insert(key.to_owned(), held.clone());
        }
        if skus.contains(&held.sku.as_str()) {
            by_sku.insert(held.sku.clone(), held);
        }
    }
    Ok((by_sku, by_url_key))
}

/// The products Magento holds with `skus`.
fn search_skus(api: &Magento, skus: &[&str]) -> Result<Vec<Held>, Error> {
    let criteria = SearchCriteria::new()
        .filter("sku", "in", &criteria::list(skus))
        .page_size(api.settings.page_size);
    criteria::all(api, Scope::All, "/products", &criteria)
}

/// Saves each of `products`, synchronously or, above the bulk threshold,
/// through the bulk API; notes the ids Magento answers in `ids`.
fn save_all(
    api: &Magento,
    products: &[Value],
    deadline: Instant,
    ids: &mut HashMap<String, u64>,
) -> Result<Vec<Result<(), Error>>, Error> {
    if products.len() > api.settings.bulk_threshold as usize {
        return bulk::save(api, products, deadline);
    }
    Ok(products
        .iter()
        .map(|product| {
            let sku = product["sku"].as_str().unwrap_or_default();
            let saved: Held = api.put(
                Scope::All,
                &format!("/products/{}", http::path_segment(sku)),
                &json!({ "product": product }),
            )?;
            ids.insert(saved.sku, saved.id);
            Ok(())
        })
        .collect())
}

/// What `variants` (by batch index) ask of Magento, given the products it
/// holds by SKU (`held`) and by URL key (`holders`) and the ids of the
/// category paths.
fn plan(
    variants: &[(usize, Variant)],
    held: &Found,
    holders: &Found,
    categories: &HashMap<String, u64>,
    settings: &Settings,
) -> Plan {
    // Variants by group in batch order; a SKU given twice is its last version.
    let mut groups: Vec<(&str, Members)> = Vec::new();
    for (index, variant) in variants {
        let members = match groups.iter_mut().find(|(g, _)| *g == variant.group) {
            Some((_, members)) => members,
            None => {
                groups.push((&variant.group, Vec::new()));
                &mut groups.last_mut().expect("just pushed").1
            }
        };
        match members.iter_mut().find(|(_, v)| v.sku == variant.sku) {
            Some((indexes, v)) => {
                indexes.push(*index);
                *v = variant;
            }
            None => members.push((vec![*index], variant)),
        }
    }
    let mut plan = Plan::default();
    for (group, members) in groups {
        let records: Vec<usize> = members.iter().flat_map(|(i, _)| i.clone()).collect();
        let parent = held.get(group).filter(|h| h.type_id == "configurable");
        // A lone variant written earlier holds the group's URL key.
        let former = holders
            .get(group)
            .filter(|h| h.type_id == "simple" && !members.iter().any(|(_, v)| v.sku == h.sku));
        if parent.is_none() && former.is_none() && members.len() == 1 {
            let (indexes, v) = &members[0];
            plan.simples.push(Save {
                body: simple(
                    v,
                    group,
                    VISIBLE,
                    !held.contains_key(&v.sku),
                    categories,
                    settings,
                ),
                records: indexes.clone(),
            });
            continue;
        }
        let clash = if members.iter().any(|(_, v)| v.sku == group) {
            Some(format!(
                "sku `{group}` is also the group of several variants, and Magento's configurable product takes the group as its sku: give the variant another sku"
            ))
        } else {
            held.get(group).filter(|h| h.type_id != "configurable").map(|h| {
                format!(
                    "Magento holds a `{}` product with sku `{group}`, the sku the configurable product of group `{group}` needs",
                    h.type_id
                )
            })
        };
        if let Some(reason) = clash {
            plan.refused.extend(
                records
                    .iter()
                    .map(|i| (*i, Error::permanent(reason.clone()))),
            );
            continue;
        }
        let mut children = Vec::new();
        for (indexes, v) in &members {
            let url_key = format!("{group}-{}", slug(&v.sku));
            plan.simples.push(Save {
                body: simple(
                    v,
                    &url_key,
                    NOT_VISIBLE,
                    !held.contains_key(&v.sku),
                    categories,
                    settings,
                ),
                records: indexes.clone(),
            });
            children.push(v.sku.clone());
        }
        if let Some(former) = former {
            plan.simples.push(Save {
                body: json!({
                    "sku": former.sku,
                    "visibility": NOT_VISIBLE,
                    "custom_attributes": [{"attribute_code": "url_key", "value": format!("{group}-{}", slug(&former.sku))}],
                }),
                records: records.clone(),
            });
            children.push(former.sku.clone());
        }
        let variants: Vec<&Variant> = members.iter().map(|(_, v)| *v).collect();
        plan.parents.push(Parent {
            sku: group.to_owned(),
            body: configurable(group, &variants, parent.is_none(), categories, settings),
            children,
            linked: parent
                .map(|p| p.extension_attributes.configurable_product_links.clone())
                .unwrap_or_default(),
            records,
        });
    }
    plan
}

/// A simple product's body.
fn simple(
    v: &Variant,
    url_key: &str,
    visibility: u8,
    new: bool,
    categories: &HashMap<String, u64>,
    settings: &Settings,
) -> Value {
    let mut body = common(
        &v.sku,
        &v.name,
        &v.description,
        url_key,
        v.enabled,
        visibility,
        new,
        v.categories.iter(),
        &v.media,
        &v.links,
        categories,
        settings,
    );
    body["type_id"] = json!("simple");
    body["price"] = v.price.clone();
    body
}

/// The configurable product of `group` from its `variants` in the batch.
fn configurable(
    group: &str,
    variants: &[&Variant],
    new: bool,
    categories: &HashMap<String, u64>,
    settings: &Settings,
) -> Value {
    let first = variants[0];
    let mut paths: Vec<&String> = Vec::new();
    for path in variants.iter().flat_map(|v| &v.categories) {
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    let mut body = common(
        group,
        &first.name,
        &first.description,
        group,
        variants.iter().any(|v| v.enabled),
        VISIBLE,
        new,
        paths.into_iter(),
        &first.media,
        &first.links,
        categories,
        settings,
    );
    body["type_id"] = json!("configurable");
    body
}

/// What simple and configurable products share.
#[allow(clippy::too_many_arguments)]
fn common<'a>(
    sku: &str,
    name: &str,
    description: &str,
    url_key: &str,
    enabled: bool,
    visibility: u8,
    new: bool,
    paths: impl Iterator<Item = &'a String>,
    media: &[MediaRef],
    links: &[ProductLink],
    categories: &HashMap<String, u64>,
    settings: &Settings,
) -> Value {
    let category_links: Vec<Value> = paths
        .filter_map(|path| categories.get(path))
        .map(|id| json!({"position": 0, "category_id": id.to_string()}))
        .collect();
    let media: Vec<Value> = media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            json!({
                "media_type": "image",
                "label": m.label.get(&settings.language).cloned().unwrap_or_default(),
                "position": i + 1,
                "disabled": false,
                "types": if i == 0 { json!(["image", "small_image", "thumbnail"]) } else { json!([]) },
                "file": m.url,
            })
        })
        .collect();
    let links: Vec<Value> = links
        .iter()
        .enumerate()
        .map(|(i, l)| {
            json!({
                "sku": sku,
                "link_type": l.kind,
                "linked_product_sku": l.sku,
                "linked_product_type": "simple",
                "position": i + 1,
            })
        })
        .collect();
    let mut body = json!({
        "sku": sku,
        "name": name,
        "status": if enabled { 1 } else { 2 },
        "visibility": visibility,
        "custom_attributes": [
            {"attribute_code": "url_key", "value": url_key},
            {"attribute_code": "description", "value": description},
        ],
        "extension_attributes": {"category_links": category_links},
        "media_gallery_entries": media,
        "product_links": links,
    });
    if new {
        body["attribute_set_id"] = json!(DEFAULT_ATTRIBUTE_SET);
        if settings.website_id != 0 {
            body["extension_attributes"]["website_ids"] = json!([settings.website_id]);
        }
    }
    body
}

/// `sku` as a URL key part: lower-case letters and digits, other runs as `-`.
fn slug(sku: &str) -> String {
    let mut slug = String::with_capacity(sku.len());
    for c in sku.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_owned()
}

/// One page of every simple product as a canonical product, keyed by SKU,
/// in id order.
pub fn reconcile(api: &Magento, cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let settings = &api.settings;
    let configurables: Vec<Held> = criteria::all(
        api,
        Scope::All,
        "/products",
        &SearchCriteria::new()
            .filter("type_id", "eq", "configurable")
            .page_size(settings.page_size),
    )?;
    let parents: HashMap<u64, String> = configurables
        .iter()
        .flat_map(|p| {
            p.extension_attributes
                .configurable_product_links
                .iter()
                .map(|child| (*child, p.sku.clone()))
        })
        .collect();
    let tree = Tree::load(api)?;
    let page = listing::page(
        api,
        Scope::All,
        "/products",
        SearchCriteria::new().filter("type_id", "eq", "simple"),
        cursor,
        limit,
        |products: &[Held]| {
            products
                .iter()
                .map(|p| {
                    let payload =
                        canonical(p, parents.get(&p.id).map(String::as_str), &tree, settings);
                    Ok(Row {
                        id: p.id,
                        sub: String::new(),
                        envelope: Envelope::upsert(PRODUCTS, &p.sku, &payload, None)?,
                    })
                })
                .collect()
        },
    )?;
    log::info(format!(
        "count={} more={} Listed Magento products.",
        page.records.len(),
        page.more
    ));
    Ok(page)
}

/// The canonical product of a simple product Magento holds, `parent` the SKU
/// of the configurable product linking it.
fn canonical(p: &Held, parent: Option<&str>, tree: &Tree, settings: &Settings) -> Product {
    let language = &settings.language;
    let text = |code: &str| p.attribute(code).filter(|t| !t.is_empty());
    let mut categories: Vec<String> = p
        .extension_attributes
        .category_links
        .iter()
        .filter_map(|l| match &l.category_id {
            Value::String(s) => s.parse().ok(),
            other => other.as_u64(),
        })
        .filter_map(|id| tree.path(id).map(str::to_owned))
        .collect();
    categories.sort();
    categories.dedup();
    let mut media = p.media_gallery_entries.clone();
    media.sort_by_key(|m| m.position);
    let mut links = p.product_links.clone();
    links.sort_by_key(|l| l.position);
    Product {
        sku: p.sku.clone(),
        group: parent
            .map(str::to_owned)
            .or_else(|| text("url_key").map(str::to_owned))
            .unwrap_or_else(|| slug(&p.sku)),
        name: p
            .name
            .iter()
            .map(|n| (language.clone(), n.clone()))
            .collect(),
        description: text("description")
            .map(|d| BTreeMap::from([(language.clone(), d.to_owned())]))
            .unwrap_or_default(),
        prices: money::minor(&p.price, &settings.currency)
            .map(|minor| {
                BTreeMap::from([(
                    settings.currency.clone(),
                    money::decimal(minor, &settings.currency),
                )])
            })
            .unwrap_or_default(),
        enabled: p.status == Some(1),
        categories,
        media: media
            .into_iter()
            .map(|m| MediaRef {
                url: m.file,
                label: m
                    .label
                    .filter(|l| !l.is_empty())
                    .map(|l| BTreeMap::from([(language.clone(), l)]))
                    .unwrap_or_default(),
            })
            .collect(),
        links: links
            .into_iter()
            .filter(|l| LINK_KINDS.contains(&l.link_type.as_str()))
            .map(|l| ProductLink {
                kind: l.link_type,
                sku: l.linked_product_sku,
                quantity: None,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            base_url: "http://127.0.0.1:8089".into(),
            store_code: "default".into(),
            language: "en".into(),
            currency: "EUR".into(),
            website_id: 0,
            order_ref_prefix: "magento:".into(),
            bulk_threshold: 50,
            page_size: 100,
        }
    }

    fn product(sku: &str, group: &str) -> Product {
        serde_json::from_value(json!({
            "sku": sku, "group": group,
            "name": {"en": format!("Tee {sku}"), "de": format!("T-Shirt {sku}")},
            "description": {"en": "A heavy cotton tee."},
            "prices": {"EUR": "19.90", "USD": "21.00"}, "enabled": true,
            "categories": ["Clothing/Tees", "Sale"],
            "media": [{"url": "https://pim.example.com/tee-front.jpg", "label": {"en": "Front"}},
                      {"url": "https://pim.example.com/tee-back.jpg"}],
            "links": [{"kind": "crosssell", "sku": "MUG"}]
        }))
        .unwrap()
    }

    fn checked(products: &[Product]) -> Vec<(usize, Variant)> {
        products
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, p)| (i, check(p, &settings()).unwrap()))
            .collect()
    }

    fn categories() -> HashMap<String, u64> {
        HashMap::from([("Clothing/Tees".to_owned(), 5), ("Sale".to_owned(), 9)])
    }

    fn held(value: Value) -> Held {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_lone_variant_is_a_visible_simple_product_with_its_group_as_url_key() {
        let variants = checked(&[product("MUG-1", "mug")]);
        let plan = plan(
            &variants,
            &HashMap::new(),
            &HashMap::new(),
            &categories(),
            &settings(),
        );
        assert!(plan.parents.is_empty() && plan.refused.is_empty());
        let body = &plan.simples[0].body;
        assert_eq!(body["sku"], "MUG-1");
        assert_eq!(body["type_id"], "simple");
        assert_eq!(body["name"], "Tee MUG-1", "the configured language");
        assert_eq!(body["price"], json!(19.9), "EUR, as a number");
        assert_eq!(body["status"], 1);
        assert_eq!(body["visibility"], 4);
        assert_eq!(body["attribute_set_id"], 4, "new");
        assert_eq!(
            body["custom_attributes"],
            json!([{"attribute_code": "url_key", "value": "mug"},
                   {"attribute_code": "description", "value": "A heavy cotton tee."}])
        );
        assert_eq!(
            body["extension_attributes"]["category_links"],
            json!([{"position": 0, "category_id": "5"}, {"position": 0, "category_id": "9"}])
        );
        let media = &body["media_gallery_entries"];
        assert_eq!(media[0]["file"], "https://pim.example.com/tee-front.jpg");
        assert_eq!(
            media[0]["types"],
            json!(["image", "small_image", "thumbnail"])
        );
        assert_eq!(media[0]["label"], "Front");
        assert_eq!(media[1]["types"], json!([]));
        assert_eq!(media[1]["position"], 2);
        assert_eq!(
            body["product_links"],
            json!([{"sku": "MUG-1", "link_type": "crosssell", "linked_product_sku": "MUG",
                    "linked_product_type": "simple", "position": 1}])
        );
    }

    #[test]
    fn several_variants_of_a_group_are_a_configurable_product_over_simple_children() {
        let mut second = product("TEE-L", "tee-classic");
        second.enabled = false;
        second.categories = vec!["Clothing/Tees".into(), "Big".into()];
        let variants = checked(&[product("TEE-M", "tee-classic"), second]);
        let existing = HashMap::from([(
            "TEE-M".to_owned(),
            held(json!({"id": 31, "sku": "TEE-M", "type_id": "simple"})),
        )]);
        let cats = HashMap::from([
            ("Clothing/Tees".to_owned(), 5),
            ("Sale".to_owned(), 9),
            ("Big".to_owned(), 12),
        ]);
        let plan = plan(&variants, &existing, &HashMap::new(), &cats, &settings());
        let children: Vec<(&str, &Value, &Value)> = plan
            .simples
            .iter()
            .map(|s| {
                (
                    s.body["sku"].as_str().unwrap(),
                    &s.body["visibility"],
                    &s.body["custom_attributes"][0]["value"],
                )
            })
            .collect();
        assert_eq!(
            children,
            [
                ("TEE-M", &json!(1), &json!("tee-classic-tee-m")),
                ("TEE-L", &json!(1), &json!("tee-classic-tee-l"))
            ]
        );
        assert!(
            plan.simples[0].body.get("attribute_set_id").is_none(),
            "TEE-M exists: its set stays"
        );
        assert_eq!(plan.simples[1].body["status"], 2);
        let parent = &plan.parents[0];
        assert_eq!(parent.sku, "tee-classic");
        assert_eq!(parent.body["type_id"], "configurable");
        assert_eq!(parent.body["name"], "Tee TEE-M", "from the first variant");
        assert_eq!(parent.body["status"], 1, "one variant is enabled");
        assert_eq!(parent.body["visibility"], 4);
        assert!(parent.body.get("price").is_none());
        assert_eq!(
            parent.body["extension_attributes"]["category_links"],
            json!([{"position": 0, "category_id": "5"}, {"position": 0, "category_id": "9"},
                   {"position": 0, "category_id": "12"}]),
            "the union of the variants' categories"
        );
        assert_eq!(parent.children, ["TEE-M", "TEE-L"]);
        assert_eq!(parent.records, [0, 1]);
    }

    #[test]
    fn a_later_variant_joins_the_configurable_product_or_turns_the_lone_one_into_a_child() {
        let variants = checked(&[product("TEE-S", "tee")]);
        // The parent exists: the variant is linked beside those it has.
        let existing = HashMap::from([(
            "tee".to_owned(),
            held(json!({"id": 40, "sku": "tee", "type_id": "configurable",
                        "extension_attributes": {"configurable_product_links": [31, 32]}})),
        )]);
        let joined = plan(
            &variants,
            &existing,
            &HashMap::new(),
            &categories(),
            &settings(),
        );
        assert_eq!(joined.parents[0].linked, [31, 32]);
        assert_eq!(joined.parents[0].children, ["TEE-S"]);
        assert!(joined.parents[0].body.get("attribute_set_id").is_none());
        // A lone variant of the group holds its URL key: it becomes a child too.
        let former = HashMap::from([(
            "tee".to_owned(),
            held(json!({"id": 31, "sku": "TEE-M", "type_id": "simple",
                        "custom_attributes": [{"attribute_code": "url_key", "value": "tee"}]})),
        )]);
        let converted = plan(
            &variants,
            &HashMap::new(),
            &former,
            &categories(),
            &settings(),
        );
        assert_eq!(converted.parents[0].children, ["TEE-S", "TEE-M"]);
        let rekeyed = &converted.simples[1].body;
        assert_eq!(rekeyed["sku"], "TEE-M");
        assert_eq!(rekeyed["visibility"], 1);
        assert_eq!(rekeyed["custom_attributes"][0]["value"], "tee-tee-m");
        assert!(
            rekeyed.get("name").is_none(),
            "only what turns it into a child"
        );
    }

    #[test]
    fn records_magento_cannot_hold_are_refused_by_name() {
        let refused = |p: Product| check(p, &settings()).unwrap_err().message().to_owned();
        let mut german = product("TEE-M", "tee");
        german.name.remove("en");
        assert!(refused(german).contains("no name in `en` (config `language`); it has `de`"));
        let mut dollars = product("TEE-M", "tee");
        dollars.prices.remove("EUR");
        assert!(refused(dollars).contains("no price in EUR (config `currency`); it has `USD`"));
        let mut kit = product("KIT", "kit");
        kit.links = vec![ProductLink {
            kind: "bundle".into(),
            sku: "MUG".into(),
            quantity: Some(2),
        }];
        assert!(refused(kit).contains("`bundle` link to `MUG`"));
        let mut fine = product("TEE-M", "tee");
        fine.prices.insert("EUR".into(), "19.999".into());
        assert!(refused(fine).contains("19.999"));
        // The group's own sku among several variants.
        let variants = checked(&[product("tee", "tee"), product("TEE-L", "tee")]);
        let plan = plan(
            &variants,
            &HashMap::new(),
            &HashMap::new(),
            &categories(),
            &settings(),
        );
        assert_eq!(plan.refused.len(), 2);
        assert!(
            plan.refused[0]
                .1
                .message()
                .contains("sku `tee` is also the group")
        );
        assert!(plan.simples.is_empty() && plan.parents.is_empty());
    }

    #[test]
    fn a_held_child_reads_back_as_the_canonical_product_written() {
        let tree = Tree::for_tests(&[(5, "Clothing/Tees"), (9, "Sale")]);
        let held = held(json!({
            "id": 31, "sku": "TEE-M", "name": "Tee TEE-M", "type_id": "simple", "price": 19.9,
            "status": 1, "visibility": 1, "attribute_set_id": 4,
            "custom_attributes": [{"attribute_code": "url_key", "value": "tee-classic-tee-m"},
                                  {"attribute_code": "description", "value": "A heavy cotton tee."}],
            "extension_attributes": {"website_ids": [1],
                "category_links": [{"position": 0, "category_id": "9"}, {"position": 0, "category_id": "5"}]},
            "media_gallery_entries": [
                {"id": 2, "media_type": "image", "label": null, "position": 2, "disabled": false, "types": [], "file": "https://pim.example.com/tee-back.jpg"},
                {"id": 1, "media_type": "image", "label": "Front", "position": 1, "disabled": false,
                 "types": ["image", "small_image", "thumbnail"], "file": "https://pim.example.com/tee-front.jpg"}],
            "product_links": [{"sku": "TEE-M", "link_type": "crosssell", "linked_product_sku": "MUG", "linked_product_type": "simple", "position": 1}]
        }));
        let mut written = product("TEE-M", "tee-classic");
        written.name.remove("de");
        written.prices.remove("USD");
        assert_eq!(
            canonical(&held, Some("tee-classic"), &tree, &settings()),
            written
        );
        // A lone one finds its group in its URL key.
        assert_eq!(
            canonical(&held, None, &tree, &settings()).group,
            "tee-classic-tee-m"
        );
    }

    #[test]
    fn a_sku_twice_in_a_batch_is_one_product_at_its_last_version() {
        let mut later = product("MUG-1", "mug");
        later.name.insert("en".into(), "Mug, new".into());
        let variants = checked(&[product("MUG-1", "mug"), later]);
        let plan = plan(
            &variants,
            &HashMap::new(),
            &HashMap::new(),
            &categories(),
            &settings(),
        );
        assert!(plan.parents.is_empty(), "still a lone variant");
        assert_eq!(plan.simples.len(), 1);
        assert_eq!(plan.simples[0].body["name"], "Mug, new");
        assert_eq!(plan.simples[0].records, [0, 1]);
    }

    #[test]
    fn skus_become_url_key_slugs() {
        assert_eq!(slug("TEE-M"), "tee-m");
        assert_eq!(slug("A_1  b/"), "a-1-b");
    }
}
