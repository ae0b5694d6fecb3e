//! The `customers` stream: Vendure customers changed since the cursor.
//!
//! Payload: `{id, email, first_name, last_name, phone, updated_at}`; key = the
//! Vendure customer id. The cursor and paging are [`feed`](crate::feed)'s.

use serde::{Deserialize, Serialize};
use tenon_sdk::prelude::*;

use crate::{CUSTOMERS, feed};

/// JSON Schema of a `customers` payload.
pub const CUSTOMER_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["id", "email", "updated_at"],
  "properties": {
    "id": {"type": "string"},
    "email": {"type": "string"},
    "first_name": {"type": "string"},
    "last_name": {"type": "string"},
    "phone": {"type": ["string", "null"]},
    "updated_at": {"type": "string", "format": "date-time"}
  }
}"#;

const CUSTOMERS_QUERY: &str = r#"query Customers($options: CustomerListOptions) {
  customers(options: $options) {
    items { id emailAddress firstName lastName phoneNumber updatedAt }
  }
}"#;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VendureCustomer {
    id: String,
    email_address: String,
    first_name: String,
    last_name: String,
    phone_number: Option<String>,
    updated_at: String,
}

impl feed::Changed for VendureCustomer {
    fn position(&self) -> (&str, &str) {
        (&self.updated_at, &self.id)
    }
}

/// A `customers` payload.
#[derive(Serialize)]
struct Customer<'a> {
    id: &'a str,
    email: &'a str,
    first_name: &'a str,
    last_name: &'a str,
    phone: Option<&'a str>,
    updated_at: &'a str,
}

/// One page of customers after `cursor`.
pub fn read(cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let (customers, mut mark, more) =
        feed::changed_since::<VendureCustomer>(CUSTOMERS_QUERY, "customers", cursor, limit)?;
    let mut records = Vec::with_capacity(customers.len());
    for c in &customers {
        mark.advance(&c.updated_at, &feed::padded(&c.id));
        let payload = Customer {
            id: &c.id,
            email: &c.email_address,
            first_name: &c.first_name,
            last_name: &c.last_name,
            phone: c.phone_number.as_deref(),
            updated_at: &c.updated_at,
        };
        records.push(Envelope::upsert(
            CUSTOMERS,
            &c.id,
            &payload,
            Some(&c.updated_at),
        )?);
    }
    log::info(format!(
        "count={} more={more} cursor={mark} Read Vendure customers.",
        records.len()
    ));
    Ok(feed::page(records, &mark, more))
}
