//! Akeneo's associations to canonical product links.
//!
//! `associations` (`{"X_SELL": {"products": [...], "product_models": [...],
//! "groups": [...]}}`) and `quantified_associations` (`{"PACK": {"products":
//! [{"identifier", "quantity"}], "product_models": [...]}}`) name association
//! types; `association_kinds` maps a type's code to a link kind (`related`,
//! `upsell`, `crosssell`, `bundle`), and types it does not name are left out.
//! Canonical links point at SKUs, so only associated products count: product
//! models and groups are left out. A `bundle` link carries a quantity: the
//! quantified association's, or 1 from a plain association; other kinds carry
//! none. It does not know the rest of the product.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use tenon_sdk::canonical::ProductLink;

/// The link kinds of the canonical `products` stream.
pub(crate) const KINDS: [&str; 4] = ["related", "upsell", "crosssell", "bundle"];

/// The kind whose links carry a quantity.
const BUNDLE: &str = "bundle";

/// What one plain association type links to.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Association {
    #[serde(default)]
    pub products: Vec<String>,
}

/// What one quantified association type holds.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Quantified {
    #[serde(default)]
    pub products: Vec<Part>,
}

/// One part: a product and how many of it. `identifier` is missing in the
/// `products-uuid` API's form, which names the product by `uuid` only.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Part {
    #[serde(default)]
    pub identifier: Option<String>,
    #[serde(default)]
    pub quantity: Value,
}

/// The links of product `sku`: quantified types first (so a quantity wins
/// over a plain association to the same product), each `(kind, sku)` once, no
/// link to itself. A part whose quantity is not a whole number of at least 1
/// refuses the product.
pub(crate) fn links(
    sku: &str,
    plain: &BTreeMap<String, Association>,
    quantified: &BTreeMap<String, Quantified>,
    kinds: &BTreeMap<String, String>,
) -> Result<Vec<ProductLink>, String> {
    let mut out: Vec<ProductLink> = Vec::new();
    let mut add = |kind: &str, target: &str, quantity: i64| {
        if target.is_empty()
            || target == sku
            || out
                .iter()
                .any(|link| link.kind == kind && link.sku == target)
        {
            return;
        }
        out.push(ProductLink {
            kind: kind.to_owned(),
            sku: target.to_owned(),
            quantity: (kind == BUNDLE).then_some(quantity),
        });
    };
    for (code, association) in quantified {
        let Some(kind) = kinds.get(code) else {
            continue;
        };
        for part in &association.products {
            let Some(target) = part.identifier.as_deref() else {
                continue;
            };
            let quantity = part.quantity.as_i64().filter(|q| *q >= 1).ok_or_else(|| {
                format!(
                    "product `{sku}`: part `{target}` of `{code}` has the quantity `{}`; quantities are whole numbers of at least 1",
                    part.quantity
                )
            })?;
            add(kind, target, quantity);
        }
    }
    for (code, association) in plain {
        let Some(kind) = kinds.get(code) else {
            continue;
        };
        for target in &association.products {
            add(kind, target, 1);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kinds() -> BTreeMap<String, String> {
        tenon_sdk::config::parse_map(crate::DEFAULT_ASSOCIATION_KINDS).unwrap()
    }

    fn link(kind: &str, sku: &str, quantity: Option<i64>) -> ProductLink {
        ProductLink {
            kind: kind.into(),
            sku: sku.into(),
            quantity,
        }
    }

    #[test]
    fn association_types_become_link_kinds_and_packs_bundles_with_quantities() {
        let plain: BTreeMap<String, Association> = serde_json::from_value(json!({
            "X_SELL": {"products": ["MUG", "TEE"], "product_models": ["tee-model"], "groups": ["g"]},
            "UPSELL": {"products": ["TEE-PREMIUM"]},
            "SUBSTITUTION": {"products": ["TEE-M"]},
            "PACK": {"products": ["SOCKS", "CAP"]},
            "COMPATIBLE": {"products": ["X"]}
        }))
        .unwrap();
        let quantified: BTreeMap<String, Quantified> = serde_json::from_value(json!({
            "PACK": {"products": [{"identifier": "SOCKS", "quantity": 3}, {"uuid": "8945388d"}],
                     "product_models": [{"identifier": "tee-model", "quantity": 1}]}
        }))
        .unwrap();
        assert_eq!(
            links("TEE", &plain, &quantified, &kinds()).unwrap(),
            [
                link("bundle", "SOCKS", Some(3)),
                link("bundle", "CAP", Some(1)),
                link("related", "TEE-M", None),
                link("upsell", "TEE-PREMIUM", None),
                link("crosssell", "MUG", None),
            ],
            "quantities first and winning; models, groups, itself and unmapped types left out"
        );
    }

    #[test]
    fn the_kinds_follow_the_config_and_a_bad_quantity_refuses_the_product() {
        let plain: BTreeMap<String, Association> =
            serde_json::from_value(json!({"X_SELL": {"products": ["MUG"]}})).unwrap();
        let only_related = BTreeMap::from([("X_SELL".to_owned(), "related".to_owned())]);
        assert_eq!(
            links("TEE", &plain, &BTreeMap::new(), &only_related).unwrap(),
            [link("related", "MUG", None)]
        );
        for quantity in [json!(0), json!(1.5), json!("2"), Value::Null] {
            let quantified: BTreeMap<String, Quantified> = serde_json::from_value(
                json!({"PACK": {"products": [{"identifier": "SOCKS", "quantity": quantity}]}}),
            )
            .unwrap();
            let error = links("KIT", &BTreeMap::new(), &quantified, &kinds()).unwrap_err();
            assert!(error.contains("part `SOCKS` of `PACK`"), "{error}");
        }
    }
}
