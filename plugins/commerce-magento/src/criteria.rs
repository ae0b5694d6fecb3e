//! Magento's `searchCriteria`: the bracketed query parameters of every list
//! endpoint (`GET /V1/orders`, `/V1/products`, `/V1/customers/search`, ...),
//! and paging through their `{"items", "total_count"}` answers.
//!
//! Filters of one group are OR-ed, groups are AND-ed:
//! `searchCriteria[filter_groups][G][filters][F][field|value|condition_type]`;
//! sort orders are `searchCriteria[sortOrders][N][field|direction]`.
//!
//! Magento's quirk: a `currentPage` past the last page answers the last page
//! again, so paging stops by `total_count`, never by an empty page.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use tenon_sdk::prelude::*;

use crate::rest::{Magento, Scope};

/// The most pages one paging loop asks for: a `total_count` that never ends
/// is an error, not an endless call.
const MAX_PAGES: u32 = 200;

/// One filter: `field condition value` (`updated_at gteq 2026-11-23 10:00:00`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Filter {
    field: String,
    condition: &'static str,
    value: String,
}

/// A search: filter groups, sort orders and a page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchCriteria {
    groups: Vec<Vec<Filter>>,
    sorts: Vec<(String, &'static str)>,
    page_size: u32,
    current_page: u32,
}

impl SearchCriteria {
    pub fn new() -> SearchCriteria {
        SearchCriteria {
            page_size: 100,
            current_page: 1,
            ..SearchCriteria::default()
        }
    }

    /// Adds a filter group of one filter (AND-ed with the other groups).
    pub fn filter(mut self, field: &str, condition: &'static str, value: &str) -> Self {
        self.groups.push(vec![Filter {
            field: field.to_owned(),
            condition,
            value: value.to_owned(),
        }]);
        self
    }

    /// Adds a filter group whose filters are OR-ed: any of `(field,
    /// condition, value)`.
    pub fn any_of(mut self, filters: &[(&str, &'static str, &str)]) -> Self {
        self.groups.push(
            filters
                .iter()
                .map(|(field, condition, value)| Filter {
                    field: (*field).to_owned(),
                    condition,
                    value: (*value).to_owned(),
                })
                .collect(),
        );
        self
    }

    /// Sorts by `field`, ascending, after the sorts already given.
    pub fn ascending(mut self, field: &str) -> Self {
        self.sorts.push((field.to_owned(), "ASC"));
        self
    }

    /// Pages of `size` records (at least 1).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size.max(1);
        self
    }

    /// Records per page.
    pub fn size(&self) -> u32 {
        self.page_size
    }

    /// Page `page` (from 1).
    pub fn current_page(mut self, page: u32) -> Self {
        self.current_page = page.max(1);
        self
    }

    /// The query parameters, unencoded (the request percent-encodes them).
    pub fn query(&self) -> Vec<(String, String)> {
        let mut query = Vec::new();
        for (g, group) in self.groups.iter().enumerate() {
            for (f, filter) in group.iter().enumerate() {
                let at = format!("searchCriteria[filter_groups][{g}][filters][{f}]");
                query.push((format!("{at}[field]"), filter.field.clone()));
                query.push((format!("{at}[value]"), filter.value.clone()));
                query.push((format!("{at}[condition_type]"), filter.condition.to_owned()));
            }
        }
        for (n, (field, direction)) in self.sorts.iter().enumerate() {
            let at = format!("searchCriteria[sortOrders][{n}]");
            query.push((format!("{at}[field]"), field.clone()));
            query.push((format!("{at}[direction]"), (*direction).to_owned()));
        }
        query.push((
            "searchCriteria[pageSize]".to_owned(),
            self.page_size.to_string(),
        ));
        query.push((
            "searchCriteria[currentPage]".to_owned(),
            self.current_page.to_string(),
        ));
        query
    }
}

/// One answer of a search.
#[derive(Debug, Deserialize)]
pub struct SearchResult<T> {
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
    #[serde(default)]
    pub total_count: u64,
}

/// Whether page `page` of `size` records is the last of `total` (Magento
/// answers the last page again for any page after it).
pub fn is_last_page(page: u32, size: u32, total: u64) -> bool {
    u64::from(page) * u64::from(size) >= total
}

/// Pages through the search `criteria` at `path`, giving each page's items to
/// `each` until it answers `false` or the last page (by `total_count`) was
/// given. Returns whether the last page was reached.
pub fn pages<T: DeserializeOwned>(
    api: &Magento,
    scope: Scope,
    path: &str,
    criteria: &SearchCriteria,
    each: impl FnMut(Vec<T>) -> Result<bool, Error>,
) -> Result<bool, Error> {
    walk(
        path,
        criteria.page_size,
        |page| api.get(scope, path, &criteria.clone().current_page(page).query()),
        each,
    )
}

/// [`pages`] over `fetch(page)` (from 1): the answers of the search `what`
/// in pages of `size`.
pub fn walk<T>(
    what: &str,
    size: u32,
    mut fetch: impl FnMut(u32) -> Result<SearchResult<T>, Error>,
    mut each: impl FnMut(Vec<T>) -> Result<bool, Error>,
) -> Result<bool, Error> {
    for page in 1..=MAX_PAGES {
        let answer = fetch(page)?;
        let last = answer.items.is_empty() || is_last_page(page, size, answer.total_count);
        if !each(answer.items)? {
            return Ok(last);
        }
        if last {
            return Ok(true);
        }
    }
    Err(Error::permanent(format!(
        "Magento's `{what}` did not end within {MAX_PAGES} pages of {size}: raise `page_size`"
    )))
}

/// Every item of the search `criteria` at `path`.
pub fn all<T: DeserializeOwned>(
    api: &Magento,
    scope: Scope,
    path: &str,
    criteria: &SearchCriteria,
) -> Result<Vec<T>, Error> {
    let mut all = Vec::new();
    pages(api, scope, path, criteria, |items| {
        all.extend(items);
        Ok(true)
    })?;
    Ok(all)
}

/// Values for an `in` filter: Magento splits its value at commas.
pub fn list(values: &[&str]) -> String {
    values.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn criteria_become_magentos_bracket_parameters() {
        let query = SearchCriteria::new()
            .filter("updated_at", "gteq", "2026-11-23 10:00:00")
            .ascending("updated_at")
            .ascending("entity_id")
            .page_size(50)
            .current_page(3)
            .query();
        let f = "searchCriteria[filter_groups][0][filters][0]";
        assert_eq!(param(&query, &format!("{f}[field]")), Some("updated_at"));
        assert_eq!(
            param(&query, &format!("{f}[value]")),
            Some("2026-11-23 10:00:00")
        );
        assert_eq!(param(&query, &format!("{f}[condition_type]")), Some("gteq"));
        assert_eq!(
            param(&query, "searchCriteria[sortOrders][0][field]"),
            Some("updated_at")
        );
        assert_eq!(
            param(&query, "searchCriteria[sortOrders][1][field]"),
            Some("entity_id")
        );
        assert_eq!(
            param(&query, "searchCriteria[sortOrders][1][direction]"),
            Some("ASC")
        );
        assert_eq!(param(&query, "searchCriteria[pageSize]"), Some("50"));
        assert_eq!(param(&query, "searchCriteria[currentPage]"), Some("3"));
    }

    #[test]
    fn groups_are_and_ed_and_filters_of_a_group_or_ed() {
        let query = SearchCriteria::new()
            .filter("type_id", "eq", "simple")
            .any_of(&[("sku", "in", "A,B"), ("url_key", "in", "tee")])
            .query();
        assert_eq!(
            param(
                &query,
                "searchCriteria[filter_groups][0][filters][0][field]"
            ),
            Some("type_id")
        );
        assert_eq!(
            param(
                &query,
                "searchCriteria[filter_groups][1][filters][0][value]"
            ),
            Some("A,B")
        );
        assert_eq!(
            param(
                &query,
                "searchCriteria[filter_groups][1][filters][1][field]"
            ),
            Some("url_key")
        );
    }

    #[test]
    fn paging_stops_by_the_total_count() {
        // 250 records in pages of 100: page 3 is the last; Magento would answer
        // page 3 again for page 4.
        assert!(!is_last_page(1, 100, 250));
        assert!(!is_last_page(2, 100, 250));
        assert!(is_last_page(3, 100, 250));
        assert!(is_last_page(1, 100, 100));
        assert!(is_last_page(1, 100, 0));
    }
}
