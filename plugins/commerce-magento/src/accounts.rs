//! The `customer-accounts` stream: B2B accounts (canonical
//! [`CustomerAccount`]s) put on the Magento customers that log in for them,
//! and listed for `reconcile`; also the customer groups `price-lists` prices
//! by.
//!
//! A record finds its customer by `email` (`GET /V1/customers/search`, `eq`);
//! none is a permanent error: the login is made in Magento, not by Tenon. The
//! customer goes into the account's `group`, or, without one, into a group
//! named by the account's `code`: that is the group a contract price of the
//! account (audience `customer`) is written for, so an account with a `group`
//! gets no contract prices. A missing group is created (`POST
//! /V1/customerGroups`, tax class 3, Magento's `Retail Customer`). Then `PUT
//! /V1/customers/{id}` sends the customer as Magento holds it with `group_id`
//! and the custom attributes `erp_customer_code`, `erp_account_name`,
//! `payment_terms`, `credit_limit`, `credit_currency` and `on_hold` (`1` or
//! `0`), all text; an absent value is `""`. The attributes must exist in
//! Magento (customer attributes of those codes). A customer already so is not
//! written again. The outcome id is the customer id.
//!
//! `reconcile` lists every customer with an `erp_customer_code`, keyed by
//! customer id, as the account written: `group` is the customer's group
//! unless it is the group named by the code (then none).

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Value, json};
use tenon_sdk::canonical::CustomerAccount;
use tenon_sdk::prelude::*;

use crate::criteria::{self, SearchCriteria};
use crate::listing::{self, Row};
use crate::rest::{Magento, Scope};
use crate::{CUSTOMER_ACCOUNTS, money};

/// The custom attributes an account is kept in, in payload order.
const ATTRIBUTES: [&str; 6] = [
    "erp_customer_code",
    "erp_account_name",
    "payment_terms",
    "credit_limit",
    "credit_currency",
    "on_hold",
];

/// Magento's `Retail Customer` tax class, which new groups get.
const RETAIL_TAX_CLASS: u32 = 3;

/// A customer group.
#[derive(Debug, Clone, Deserialize)]
pub struct Group {
    pub id: u64,
    pub code: String,
}

/// Every customer group (`GET /V1/customerGroups/search`).
pub fn groups(api: &Magento) -> Result<Vec<Group>, Error> {
    criteria::all(
        api,
        Scope::Store,
        "/customerGroups/search",
        &SearchCriteria::new().page_size(api.settings.page_size),
    )
}

/// The group of `code` in `groups`; Magento compares group codes without case.
pub fn find<'a>(groups: &'a [Group], code: &str) -> Option<&'a Group> {
    groups.iter().find(|g| g.code.eq_ignore_ascii_case(code))
}

/// The codes of `groups`, for messages.
pub fn codes(groups: &[Group]) -> String {
    groups
        .iter()
        .map(|g| format!("`{}`", g.code))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Puts each record on its customer; the outcome is the customer id.
pub fn write(api: &Magento, batch: &[Delivery]) -> Result<Vec<Outcome>, Error> {
    let mut groups = groups(api)?;
    Ok(record::apply_each(batch, |delivery| {
        if delivery.envelope.op == Op::Delete {
            return Err(Error::permanent(
                "customer accounts cannot be deleted through Tenon; send `on_hold: true`",
            ));
        }
        let account: CustomerAccount = delivery.json()?;
        check(&account)?;
        let mut customer = customer_by_email(api, &account.email)?;
        let code = group_code(&account);
        let group = match find(&groups, code) {
            Some(group) => group.id,
            None => {
                let created = create_group(api, code)?;
                let id = created.id;
                groups.push(created);
                id
            }
        };
        let id = customer["id"]
            .as_u64()
            .ok_or_else(|| Error::permanent("Magento's customer has no numeric `id`"))?;
        if !apply(&mut customer, &account, group) {
            return Ok(Some(id.to_string()));
        }
        let _: Value = api.put(
            Scope::Store,
            &format!("/customers/{id}"),
            &json!({ "customer": customer }),
        )?;
        log::info(format!(
            "customer={id} account={} group={code} Put an account on a Magento customer.",
            account.code
        ));
        Ok(Some(id.to_string()))
    }))
}

/// Why Magento cannot keep `account`, if it cannot.
fn check(account: &CustomerAccount) -> Result<(), Error> {
    if account.email.trim().is_empty() {
        return Err(Error::permanent(format!(
            "account `{}` has no email: Magento finds its customer by email",
            account.code
        )));
    }
    if let Some(limit) = &account.credit_limit {
        money::number(limit, &account.currency).map_err(|e| {
            Error::permanent(format!("account `{}`: credit_limit {e}", account.code))
        })?;
    }
    Ok(())
}

/// The code of the group the account's customer belongs in.
fn group_code(account: &CustomerAccount) -> &str {
    account
        .group
        .as_deref()
        .filter(|g| !g.trim().is_empty())
        .unwrap_or(&account.code)
}

/// The customer Magento has with `email`, as it holds it.
fn customer_by_email(api: &Magento, email: &str) -> Result<Value, Error> {
    let found: criteria::SearchResult<Value> = api.get(
        Scope::Store,
        "/customers/search",
        &SearchCriteria::new()
            .filter("email", "eq", email)
            .page_size(2)
            .query(),
    )?;
    let mut customers = found.items.into_iter();
    let customer = customers.next().ok_or_else(|| {
        Error::permanent(format!(
            "Magento has no customer with email `{email}`: the account's login must exist in Magento first"
        ))
    })?;
    if customers.next().is_some() {
        log::warn(format!(
            "email={email} Several Magento customers (websites) share the email; the first is used."
        ));
    }
    Ok(customer)
}

/// Creates the customer group `code`.
fn create_group(api: &Magento, code: &str) -> Result<Group, Error> {
    let group: Group = api.post(
        Scope::Store,
        "/customerGroups",
        &json!({"group": {"code": code, "tax_class_id": RETAIL_TAX_CLASS}}),
    )?;
    log::info(format!(
        "group={} code={code} Created a Magento customer group.",
        group.id
    ));
    Ok(group)
}

/// The custom attribute values of `account`, in [`ATTRIBUTES`] order.
fn attribute_values(account: &CustomerAccount) -> [String; 6] {
    [
        account.code.clone(),
        account.name.clone(),
        account.payment_terms.clone().unwrap_or_default(),
        account.credit_limit.clone().unwrap_or_default(),
        account.currency.clone(),
        if account.on_hold { "1" } else { "0" }.to_owned(),
    ]
}

/// Sets `account` on `customer` (Magento's JSON) in group `group`; whether
/// anything changed.
fn apply(customer: &mut Value, account: &CustomerAccount, group: u64) -> bool {
    let mut changed = customer["group_id"].as_u64() != Some(group);
    customer["group_id"] = json!(group);
    let mut attributes: Vec<Value> = customer["custom_attributes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (code, value) in ATTRIBUTES.iter().zip(attribute_values(account)) {
        match attributes
            .iter_mut()
            .find(|a| a["attribute_code"].as_str() == Some(code))
        {
            Some(held) if held["value"].as_str() == Some(value.as_str()) => {}
            Some(held) => {
                held["value"] = json!(value);
                changed = true;
            }
            None => {
                attributes.push(json!({"attribute_code": code, "value": value}));
                changed = true;
            }
        }
    }
    customer["custom_attributes"] = json!(attributes);
    changed
}

/// A customer as the listing reads it.
#[derive(Debug, Deserialize)]
struct Listed {
    id: u64,
    #[serde(default)]
    email: String,
    #[serde(default)]
    group_id: u64,
    #[serde(default)]
    custom_attributes: Vec<Attribute>,
}

impl listing::Item for Listed {
    fn entity_id(&self) -> u64 {
        self.id
    }
}

#[derive(Debug, Deserialize)]
struct Attribute {
    attribute_code: String,
    #[serde(default)]
    value: Value,
}

/// One page of every customer with an account, keyed by customer id.
pub fn reconcile(api: &Magento, cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let names: HashMap<u64, String> = groups(api)?.into_iter().map(|g| (g.id, g.code)).collect();
    let page = listing::page(
        api,
        Scope::Store,
        "/customers/search",
        SearchCriteria::new(),
        cursor,
        limit,
        |customers: &[Listed]| {
            customers
                .iter()
                .filter_map(|c| account_of(c, &names).map(|a| (c.id, a)))
                .map(|(id, account)| {
                    Ok(Row {
                        id,
                        sub: String::new(),
                        envelope: Envelope::upsert(
                            CUSTOMER_ACCOUNTS,
                            &id.to_string(),
                            &account,
                            None,
                        )?,
                    })
                })
                .collect()
        },
    )?;
    log::info(format!(
        "count={} more={} Listed Magento customer accounts.",
        page.records.len(),
        page.more
    ));
    Ok(page)
}

/// The account a customer holds, if it has an `erp_customer_code`.
fn account_of(c: &Listed, groups: &HashMap<u64, String>) -> Option<CustomerAccount> {
    let value = |code: &str| {
        c.custom_attributes
            .iter()
            .find(|a| a.attribute_code == code)
            .and_then(|a| a.value.as_str())
            .map(str::to_owned)
            .filter(|v| !v.is_empty())
    };
    let code = value("erp_customer_code")?;
    let group = groups
        .get(&c.group_id)
        .filter(|g| !g.eq_ignore_ascii_case(&code))
        .cloned();
    Some(CustomerAccount {
        name: value("erp_account_name").unwrap_or_default(),
        email: c.email.clone(),
        group,
        payment_terms: value("payment_terms"),
        credit_limit: value("credit_limit"),
        currency: value("credit_currency").unwrap_or_default(),
        on_hold: value("on_hold").as_deref() == Some("1"),
        code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(group: Option<&str>) -> CustomerAccount {
        CustomerAccount {
            code: "C0042".into(),
            name: "Lovelace Engines Ltd".into(),
            email: "ada@example.com".into(),
            group: group.map(Into::into),
            payment_terms: Some("Net 30".into()),
            credit_limit: Some("5000.00".into()),
            currency: "EUR".into(),
            on_hold: true,
        }
    }

    fn magento_customer() -> Value {
        json!({
            "id": 17, "group_id": 1, "email": "ada@example.com", "firstname": "Ada",
            "lastname": "Lovelace", "website_id": 1, "store_id": 1,
            "addresses": [{"id": 8, "street": ["Main 1"], "city": "Berlin", "country_id": "DE"}],
            "custom_attributes": [{"attribute_code": "newsletter_source", "value": "shop"},
                                  {"attribute_code": "on_hold", "value": "0"}]
        })
    }

    #[test]
    fn an_account_goes_on_its_customer_and_keeps_what_magento_holds() {
        let mut customer = magento_customer();
        assert!(apply(&mut customer, &account(None), 4));
        assert_eq!(customer["group_id"], 4);
        assert_eq!(
            customer["firstname"], "Ada",
            "the customer as Magento holds it"
        );
        assert_eq!(customer["addresses"][0]["city"], "Berlin");
        let attributes: HashMap<&str, &str> = customer["custom_attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["attribute_code"].as_str().unwrap(),
                    a["value"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(attributes["newsletter_source"], "shop");
        assert_eq!(attributes["erp_customer_code"], "C0042");
        assert_eq!(attributes["erp_account_name"], "Lovelace Engines Ltd");
        assert_eq!(attributes["payment_terms"], "Net 30");
        assert_eq!(attributes["credit_limit"], "5000.00");
        assert_eq!(attributes["credit_currency"], "EUR");
        assert_eq!(attributes["on_hold"], "1");
        // The same account again changes nothing: no request.
        assert!(!apply(&mut customer, &account(None), 4));
    }

    #[test]
    fn the_group_is_the_accounts_or_one_named_by_its_code() {
        assert_eq!(group_code(&account(Some("Wholesale"))), "Wholesale");
        assert_eq!(group_code(&account(None)), "C0042");
        let groups = [Group {
            id: 2,
            code: "Wholesale".into(),
        }];
        assert_eq!(
            find(&groups, "wholesale").map(|g| g.id),
            Some(2),
            "Magento ignores case"
        );
    }

    #[test]
    fn a_customer_reads_back_as_the_account_written() {
        let groups = HashMap::from([(4, "C0042".to_owned()), (2, "Wholesale".to_owned())]);
        for (group, id) in [(None, 4), (Some("Wholesale"), 2)] {
            let mut customer = magento_customer();
            apply(&mut customer, &account(group), id);
            let listed: Listed = serde_json::from_value(customer).unwrap();
            assert_eq!(account_of(&listed, &groups), Some(account(group)));
        }
        let plain: Listed = serde_json::from_value(magento_customer()).unwrap();
        assert_eq!(account_of(&plain, &groups), None, "no account on it");
    }

    #[test]
    fn an_account_magento_cannot_keep_is_refused() {
        let mut no_email = account(None);
        no_email.email = " ".into();
        assert!(check(&no_email).unwrap_err().message().contains("no email"));
        let mut odd = account(None);
        odd.credit_limit = Some("12.345".into());
        assert!(check(&odd).unwrap_err().message().contains("credit_limit"));
    }
}
