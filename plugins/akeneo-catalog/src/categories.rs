//! Category codes to canonical category paths: names from the root down,
//! joined with `/` (`Clothing/Summer collection`).
//!
//! The tree comes with the record: `pim-akeneo` resolves each category code
//! of a product into `category_paths` (the categories from the root down,
//! with their labels), since a transform has no network. This module only
//! picks names; it does not know products.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One category of a path, as `pim-akeneo` sends it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Step {
    pub code: String,
    #[serde(default, deserialize_with = "crate::map_or_empty_list")]
    pub labels: BTreeMap<String, String>,
}

/// How paths are named.
#[derive(Debug, Clone)]
pub(crate) struct Naming {
    /// The locale of the names (`en_US`); a category without a label in it is
    /// named by its code.
    pub locale: String,
    /// Keep only paths in this tree (the root's code), if set.
    pub tree: Option<String>,
    /// Whether the root (the tree itself, `Master catalog`) starts the path.
    pub include_root: bool,
}

/// The name of one step: its label in `locale`, else its code; a `/` in it
/// becomes `-`, since `/` separates the steps.
fn name(step: &Step, locale: &str) -> String {
    step.labels
        .get(locale)
        .map(|label| label.trim())
        .filter(|label| !label.is_empty())
        .unwrap_or(&step.code)
        .replace('/', "-")
}

/// The canonical paths of `codes` (a product's categories, in order) through
/// `paths`, each once. A code without a path (the connector did not know it),
/// outside the configured tree, or that is the root itself while roots are
/// left out, gives none.
pub(crate) fn paths(
    codes: &[String],
    paths: &BTreeMap<String, Vec<Step>>,
    naming: &Naming,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for code in codes {
        let Some(path) = paths.get(code) else {
            continue;
        };
        if let Some(tree) = &naming.tree
            && path.first().map(|root| &root.code) != Some(tree)
        {
            continue;
        }
        let steps = if naming.include_root {
            path.as_slice()
        } else {
            path.get(1..).unwrap_or_default()
        };
        if steps.is_empty() {
            continue;
        }
        let joined = steps
            .iter()
            .map(|step| name(step, &naming.locale))
            .collect::<Vec<_>>()
            .join("/");
        if !out.contains(&joined) {
            out.push(joined);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> BTreeMap<String, Vec<Step>> {
        serde_json::from_value(json!({
            "summer": [
                {"code": "master", "labels": {"en_US": "Master catalog"}},
                {"code": "clothing", "labels": {"en_US": "Clothing", "fr_FR": "Vêtements"}},
                {"code": "summer", "labels": {"en_US": "Summer / Beach", "fr_FR": " "}}
            ],
            "clothing": [
                {"code": "master", "labels": {"en_US": "Master catalog"}},
                {"code": "clothing", "labels": {"en_US": "Clothing", "fr_FR": "Vêtements"}}
            ],
            "master": [{"code": "master", "labels": []}],
            "outlet": [
                {"code": "b2b", "labels": {"en_US": "B2B"}},
                {"code": "outlet", "labels": {"en_US": "Outlet"}}
            ]
        }))
        .unwrap()
    }

    fn naming(locale: &str, tree: Option<&str>, include_root: bool) -> Naming {
        Naming {
            locale: locale.into(),
            tree: tree.map(str::to_owned),
            include_root,
        }
    }

    fn codes(codes: &[&str]) -> Vec<String> {
        codes.iter().map(|&c| c.to_owned()).collect()
    }

    #[test]
    fn paths_are_names_from_below_the_root_in_the_configured_locale() {
        let record = record();
        let all = codes(&["summer", "clothing", "master", "unknown", "summer"]);
        assert_eq!(
            paths(&all, &record, &naming("en_US", None, false)),
            ["Clothing/Summer - Beach", "Clothing"],
            "the root alone and unknown codes give nothing; each path once"
        );
        assert_eq!(
            paths(&all, &record, &naming("fr_FR", None, false)),
            ["Vêtements/summer", "Vêtements"],
            "a blank label falls back to the code"
        );
        assert_eq!(
            paths(
                &codes(&["summer", "master"]),
                &record,
                &naming("en_US", None, true)
            ),
            ["Master catalog/Clothing/Summer - Beach", "master"]
        );
    }

    #[test]
    fn only_the_configured_tree_is_kept() {
        let record = record();
        let both = codes(&["outlet", "clothing"]);
        assert_eq!(
            paths(&both, &record, &naming("en_US", None, false)),
            ["Outlet", "Clothing"]
        );
        assert_eq!(
            paths(&both, &record, &naming("en_US", Some("master"), false)),
            ["Clothing"]
        );
    }
}
