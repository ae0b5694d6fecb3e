//! The tenant's configuration of the connector, declared and read through one
//! struct (`#[derive(Config)]`): each field is a config key, its doc comment
//! the operator's description. Owns the checks of the values; calls nothing.

use std::collections::BTreeMap;

use tenon_sdk::config::Config;
use tenon_sdk::prelude::*;

/// What the operator configures per tenant.
#[derive(Config, Debug, Default)]
pub struct Settings {
    /// Address of the Tryton server, like http://127.0.0.1:8000; grant its host too.
    pub base_url: String,
    /// Name of the Tryton database.
    pub database: String,
    /// Invoice method of the sales `sale-orders` creates: `manual` (invoices
    /// on demand, no chart of accounts needed), `order` (invoiced when
    /// confirmed) or `shipment` (invoiced as shipped).
    #[config(default = "manual")]
    pub invoice_method: String,
    /// What the storefront's order ids are prefixed with in a Tryton sale's
    /// reference (`magento:` for `magento:12`): `order-states` reads only the
    /// sales whose reference starts with it and reports the id without it;
    /// `returns` finds the sale of `order_id` as this prefix followed by it.
    /// Unset: the reference is the order id.
    pub order_ref_prefix: Option<String>,
    /// Customer groups priced by a Tryton price list, `group=price list name`
    /// pairs (`Wholesale=Wholesale 2026`): the list is published as the
    /// group's prices, and the customer accounts on it are in that group.
    pub group_lists: BTreeMap<String, String>,
    /// Code of the Tryton account (`4.3.3`) that credits of shipping and
    /// adjustments are booked on; needed only for credit memos that refund
    /// shipping or have an adjustment.
    pub refund_account: Option<String>,
    /// Whether `price-lists` publishes the products' own list prices as the
    /// list `retail` (audience `all`); `false` when another system (a PIM)
    /// owns the public prices and only contract and group prices come from
    /// Tryton.
    #[config(default = "true")]
    pub retail_prices: bool,
    /// Code of the warehouse (`WH`) returns go to when they name no location;
    /// unset: the first warehouse.
    pub return_warehouse: Option<String>,
}

/// Tryton's invoice methods of a sale.
const INVOICE_METHODS: [&str; 3] = ["manual", "order", "shipment"];

impl Settings {
    /// The configuration of this call, checked.
    pub fn current() -> Result<Self, Error> {
        let settings = Self::load()?;
        settings.check()?;
        Ok(settings)
    }

    /// Refuses values Tryton or the streams cannot use.
    pub fn check(&self) -> Result<(), Error> {
        if !INVOICE_METHODS.contains(&self.invoice_method.as_str()) {
            return Err(Error::permanent(format!(
                "config key `invoice_method`: `{}` is not one of {}",
                self.invoice_method,
                INVOICE_METHODS.join(", ")
            )));
        }
        self.list_groups().map(drop)
    }

    /// The prefix of the storefront's order ids in sale references (`""` when unset).
    pub fn prefix(&self) -> &str {
        self.order_ref_prefix.as_deref().unwrap_or_default()
    }

    /// The group each price list named in `group_lists` prices, by list name;
    /// a list named for two groups is an error.
    pub fn list_groups(&self) -> Result<BTreeMap<&str, &str>, Error> {
        let mut groups = BTreeMap::new();
        for (group, list) in &self.group_lists {
            if let Some(other) = groups.insert(list.as_str(), group.as_str()) {
                return Err(Error::permanent(format!(
                    "config key `group_lists`: price list `{list}` is named for both \
                     `{other}` and `{group}`"
                )));
            }
        }
        Ok(groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            invoice_method: "manual".into(),
            retail_prices: true,
            ..Settings::default()
        }
    }

    #[test]
    fn invoice_methods_are_tryton_s() {
        assert!(settings().check().is_ok());
        let order = Settings {
            invoice_method: "order".into(),
            ..settings()
        };
        assert!(order.check().is_ok());
        let bad = Settings {
            invoice_method: "monthly".into(),
            ..settings()
        };
        assert!(bad.check().unwrap_err().message().contains("`monthly`"));
    }

    #[test]
    fn a_list_prices_one_group() {
        let mut two = settings();
        two.group_lists = BTreeMap::from([
            ("Retailers".into(), "B2B".into()),
            ("Wholesale".into(), "B2B".into()),
        ]);
        assert!(two.check().unwrap_err().message().contains("`B2B`"));
        let mut one = settings();
        one.group_lists = BTreeMap::from([("Wholesale".into(), "Wholesale 2026".into())]);
        assert_eq!(one.list_groups().unwrap()["Wholesale 2026"], "Wholesale");
        assert_eq!(one.prefix(), "");
    }
}
