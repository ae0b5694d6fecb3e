//! Canonical category paths (`Clothing/Tees`: names from the root joined with
//! `/`) and Magento's category ids, both ways.
//!
//! The tree is the store view's (`GET /V1/categories`, rooted at the store's
//! root category, "Default Category" in a fresh Magento); a path is the names
//! below that root. A write creates the categories a path lacks, one level at
//! a time (`POST /V1/categories` under the parent, active and in the menu);
//! `reconcile` turns a product's category ids back into paths. Names are
//! compared exactly; among siblings of the same name the first is taken.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::json;
use tenon_sdk::prelude::*;

use crate::rest::{Magento, Scope};

/// A category as `GET /V1/categories` returns it, with its children.
#[derive(Debug, Deserialize)]
struct Node {
    id: u64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    children_data: Vec<Node>,
}

/// The store view's categories by path and by id.
#[derive(Debug)]
pub struct Tree {
    root: u64,
    ids: HashMap<String, u64>,
    paths: HashMap<u64, String>,
}

impl Tree {
    /// The store view's tree.
    pub fn load(api: &Magento) -> Result<Tree, Error> {
        let root: Node = api.get(Scope::Store, "/categories", &[])?;
        Ok(Tree::of(root))
    }

    fn of(root: Node) -> Tree {
        let mut tree = Tree {
            root: root.id,
            ids: HashMap::new(),
            paths: HashMap::new(),
        };
        let mut stack: Vec<(String, Node)> = root
            .children_data
            .into_iter()
            .map(|n| (String::new(), n))
            .collect();
        stack.reverse();
        while let Some((parent, node)) = stack.pop() {
            let path = join(&parent, &node.name);
            tree.ids.entry(path.clone()).or_insert(node.id);
            tree.paths.entry(node.id).or_insert_with(|| path.clone());
            for child in node.children_data.into_iter().rev() {
                stack.push((path.clone(), child));
            }
        }
        tree
    }

    /// The canonical path of category `id`, if it is below the root.
    pub fn path(&self, id: u64) -> Option<&str> {
        self.paths.get(&id).map(String::as_str)
    }

    /// The id of the category at `path`, created with the levels it lacks.
    pub fn resolve(&mut self, api: &Magento, path: &str) -> Result<u64, Error> {
        let names = names(path)?;
        let mut parent = self.root;
        let mut at = String::new();
        for name in names {
            at = join(&at, name);
            parent = match self.ids.get(&at) {
                Some(id) => *id,
                None => {
                    let id = create(api, parent, name)?;
                    log::info(format!(
                        "category={id} path={at} Created a Magento category."
                    ));
                    self.ids.insert(at.clone(), id);
                    self.paths.insert(id, at.clone());
                    id
                }
            };
        }
        Ok(parent)
    }
}

#[cfg(test)]
impl Tree {
    /// A tree of the categories `(id, path)` below root 2.
    pub fn for_tests(paths: &[(u64, &str)]) -> Tree {
        Tree {
            root: 2,
            ids: paths.iter().map(|(id, p)| ((*p).to_owned(), *id)).collect(),
            paths: paths.iter().map(|(id, p)| (*id, (*p).to_owned())).collect(),
        }
    }
}

/// `parent/name`, or `name` at the top.
fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

/// The names of `path`, each trimmed; an empty one is refused.
fn names(path: &str) -> Result<Vec<&str>, Error> {
    let names: Vec<&str> = path.split('/').map(str::trim).collect();
    if names.iter().any(|n| n.is_empty()) {
        return Err(Error::permanent(format!(
            "category path `{path}` has an empty name"
        )));
    }
    Ok(names)
}

/// Creates category `name` under `parent`; returns its id.
fn create(api: &Magento, parent: u64, name: &str) -> Result<u64, Error> {
    #[derive(Deserialize)]
    struct Created {
        id: u64,
    }
    let created: Created = api.post(
        Scope::All,
        "/categories",
        &json!({"category": {
            "parent_id": parent,
            "name": name,
            "is_active": true,
            "include_in_menu": true,
        }}),
    )?;
    Ok(created.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Tree {
        Tree::of(
            serde_json::from_value(json!({
                "id": 2, "parent_id": 1, "name": "Default Category", "is_active": true, "level": 1,
                "children_data": [
                    {"id": 3, "parent_id": 2, "name": "Clothing", "level": 2, "children_data": [
                        {"id": 5, "parent_id": 3, "name": "Tees", "level": 3, "children_data": []}
                    ]},
                    {"id": 4, "parent_id": 2, "name": "Kitchen", "level": 2, "children_data": []},
                    {"id": 6, "parent_id": 2, "name": "Clothing", "level": 2, "children_data": []}
                ]
            }))
            .unwrap(),
        )
    }

    #[test]
    fn paths_are_names_below_the_store_root() {
        let tree = tree();
        assert_eq!(tree.path(5), Some("Clothing/Tees"));
        assert_eq!(tree.path(4), Some("Kitchen"));
        assert_eq!(tree.path(2), None, "the root itself is no category path");
        assert_eq!(
            tree.ids["Clothing"], 3,
            "the first of two siblings of one name"
        );
        assert_eq!(tree.path(6), Some("Clothing"));
    }

    #[test]
    fn a_path_with_an_empty_name_is_refused() {
        assert_eq!(names(" Clothing / Tees ").unwrap(), ["Clothing", "Tees"]);
        assert!(names("Clothing//Tees").is_err());
    }
}
