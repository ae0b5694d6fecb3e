//! The `customers` stream: Vendure customers changed since the cursor, as
//! canonical [`Customer`]s.
//!
//! Payload: `{id, email, first_name, last_name, phone?, updated_at}` (`phone`
//! left out when Vendure has none); key = the Vendure customer id. The cursor and
//! paging are [`feed`](crate::feed)'s.

use serde::Deserialize;
use tenon_sdk::canonical::Customer;
use tenon_sdk::prelude::*;

use crate::{CUSTOMERS, feed};

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

/// One page of customers after `cursor`.
pub fn read(cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let (customers, mut mark, more) =
        feed::changed_since::<VendureCustomer>(CUSTOMERS_QUERY, "customers", cursor, limit)?;
    let mut records = Vec::with_capacity(customers.len());
    for c in customers {
        mark.advance(&c.updated_at, &feed::padded(&c.id));
        let payload = Customer {
            id: c.id,
            email: c.email_address,
            first_name: c.first_name,
            last_name: c.last_name,
            phone: c.phone_number.filter(|p| !p.is_empty()),
            updated_at: c.updated_at,
        };
        records.push(Envelope::upsert(
            CUSTOMERS,
            &payload.id,
            &payload,
            Some(&payload.updated_at),
        )?);
    }
    log::info(format!(
        "count={} more={more} cursor={mark} Read Vendure customers.",
        records.len()
    ));
    Ok(feed::page(records, &mark, more))
}
