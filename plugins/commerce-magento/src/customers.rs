//! The `customers` stream: Magento customers changed since the cursor (`GET
//! /V1/customers/search`), as canonical [`Customer`]s.
//!
//! Payload: `{id, email, first_name, last_name, phone?, updated_at}`; `id` =
//! the customer's `id`; `phone` = the `telephone` of the default billing
//! address, else of the first address that has one (Magento keeps phones on
//! addresses), left out when none has. The cursor and paging are
//! [`feed`](crate::feed)'s.

use serde::Deserialize;
use serde_json::Value;
use tenon_sdk::canonical::Customer;
use tenon_sdk::prelude::*;

use crate::rest::Magento;
use crate::{CUSTOMERS, feed};

/// A customer as `GET /V1/customers/search` lists it.
#[derive(Debug, Deserialize)]
struct MagentoCustomer {
    id: u64,
    #[serde(default)]
    email: String,
    #[serde(default)]
    firstname: String,
    #[serde(default)]
    lastname: String,
    updated_at: String,
    /// The id of the default billing address (Magento sends it as a string).
    #[serde(default)]
    default_billing: Value,
    #[serde(default)]
    addresses: Vec<CustomerAddress>,
}

#[derive(Debug, Deserialize)]
struct CustomerAddress {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    default_billing: bool,
    #[serde(default)]
    telephone: Option<String>,
}

impl feed::Changed for MagentoCustomer {
    fn updated_at(&self) -> &str {
        &self.updated_at
    }
    fn entity_id(&self) -> u64 {
        self.id
    }
}

/// One page of customers after `cursor`.
pub fn read(api: &Magento, cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let changes = feed::changed_since::<MagentoCustomer>(api, "/customers/search", cursor, limit)?;
    let mut records = Vec::with_capacity(changes.records.len());
    for held in changes.records {
        let payload = canonical(held.record, &held.time);
        records.push(Envelope::upsert(
            CUSTOMERS,
            &payload.id,
            &payload,
            Some(&held.time),
        )?);
    }
    log::info(format!(
        "count={} more={} cursor={} Read Magento customers.",
        records.len(),
        changes.more,
        changes.mark
    ));
    Ok(feed::page(records, &changes.mark, changes.more))
}

/// The same id, whether Magento sent it as a number or a string.
fn same_id(a: &Value, b: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    text(a).is_some_and(|a| Some(a) == text(b))
}

/// The canonical customer of a Magento one updated at `time` (RFC 3339).
fn canonical(c: MagentoCustomer, time: &str) -> Customer {
    let phone = |a: &CustomerAddress| a.telephone.clone().filter(|t| !t.trim().is_empty());
    let billing = c
        .addresses
        .iter()
        .find(|a| a.default_billing || same_id(&a.id, &c.default_billing));
    Customer {
        id: c.id.to_string(),
        phone: billing
            .and_then(phone)
            .or_else(|| c.addresses.iter().find_map(phone)),
        email: c.email,
        first_name: c.firstname,
        last_name: c.lastname,
        updated_at: time.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_magento_customer_becomes_a_canonical_one_with_the_billing_phone() {
        let customer: MagentoCustomer = serde_json::from_value(json!({
            "id": 17, "group_id": 1, "default_billing": "8", "default_shipping": "9",
            "created_at": "2026-01-02 08:00:00", "updated_at": "2026-11-23 10:00:00",
            "email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace",
            "store_id": 1, "website_id": 1,
            "addresses": [
                {"id": 9, "customer_id": 17, "telephone": "+49 30 111", "street": ["Main 1"]},
                {"id": 8, "customer_id": 17, "telephone": "+49 30 222", "street": ["Main 2"]}
            ]
        }))
        .unwrap();
        let payload = serde_json::to_value(canonical(customer, "2026-11-23T10:00:00Z")).unwrap();
        assert_eq!(
            payload,
            json!({"id": "17", "email": "ada@example.com", "first_name": "Ada",
                   "last_name": "Lovelace", "phone": "+49 30 222",
                   "updated_at": "2026-11-23T10:00:00Z"})
        );
    }

    #[test]
    fn a_customer_without_addresses_has_no_phone() {
        let customer: MagentoCustomer = serde_json::from_value(json!({
            "id": 18, "email": "bob@example.com", "firstname": "Bob", "lastname": "B",
            "updated_at": "2026-11-23 10:00:00", "addresses": []
        }))
        .unwrap();
        let payload = serde_json::to_value(canonical(customer, "2026-11-23T10:00:00Z")).unwrap();
        assert!(payload.get("phone").is_none(), "{payload}");
    }
}
