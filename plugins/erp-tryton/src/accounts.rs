//! Changed-since reads of `customer-accounts`: Tryton parties that are
//! customers (a code and an e-mail), as canonical [`CustomerAccount`]s keyed
//! by the party's code.
//!
//! - `payment_terms`: the party's customer payment term's name;
//! - `credit_limit`: its credit limit (module `account_credit_limit`), in the
//!   company's currency; `on_hold`: it has a credit limit and its receivable
//!   (`credit_amount`) already reaches it, so Tryton refuses to confirm any
//!   further sale of it (it refuses when receivable + sale > limit);
//! - `group`: the group whose list (`group_lists`) is the party's sale price list.
//!
//! A party's position is the newest of its dates, its contact mechanisms'
//! (the e-mail) and, when the credit limit module is there, its receivable
//! move lines' (an invoice posted or paid changes `on_hold` without writing
//! the party). The company's own party is not a customer. Reads only.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tenon_sdk::canonical::CustomerAccount;
use tenon_sdk::money;
use tenon_sdk::prelude::*;

use crate::read::{Fresh, changed_domain, newest, object, page};
use crate::rpc::Tryton;
use crate::settings::Settings;
use crate::value;

const DATES: [&str; 2] = ["create_date", "write_date"];

/// A party as read, with the optional fields Tryton has.
#[derive(Debug, Default, Clone)]
pub struct Party {
    pub code: String,
    pub name: String,
    pub email: String,
    pub payment_term: Option<String>,
    pub price_list: Option<String>,
    /// Credit limit and receivable, as decimals (`None`: no limit).
    pub credit_limit: Option<String>,
    pub credit_amount: Option<String>,
}

/// The canonical account of `party` in `currency`; `groups` maps price list
/// names to groups.
pub fn account(
    party: &Party,
    currency: &str,
    groups: &BTreeMap<&str, &str>,
) -> Result<CustomerAccount, String> {
    let exponent = money::exponent(currency);
    let minor = |text: &str| {
        value::minor_from_decimal(&json!(text), currency)
            .ok_or_else(|| format!("`{text}` is not an amount in {currency}"))
    };
    let limit = party.credit_limit.as_deref().map(minor).transpose()?;
    let credit = party
        .credit_amount
        .as_deref()
        .map(minor)
        .transpose()?
        .unwrap_or(0);
    if limit.is_some_and(|limit| limit < 0) {
        return Err("its credit limit is negative".into());
    }
    Ok(CustomerAccount {
        code: party.code.clone(),
        name: party.name.clone(),
        email: party.email.clone(),
        group: party
            .price_list
            .as_deref()
            .and_then(|list| groups.get(list))
            .map(|group| (*group).to_owned()),
        payment_terms: party.payment_term.clone(),
        credit_limit: limit.map(|limit| money::format(limit, exponent)),
        currency: currency.to_owned(),
        on_hold: limit.is_some_and(|limit| credit >= limit),
    })
}

/// One page of `customer-accounts` after `cursor`.
pub fn changed_since(
    tryton: &Tryton,
    settings: &Settings,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page, Error> {
    let mark = Watermark::from_cursor(cursor);
    let currency = tryton.company_currency()?;
    let groups = settings.list_groups()?;
    let optional = tryton.has_fields(
        "party.party",
        &[
            "customer_payment_term",
            "sale_price_list",
            "credit_limit_amount",
        ],
    )?;
    let has = |field: &str| optional.iter().any(|f| f == field);
    let domain = changed_domain(&mark, &DATES)?;

    // Party id -> the newest time something of it changed.
    let mut times: BTreeMap<i64, String> = BTreeMap::new();
    let mut touch = |party: Option<i64>, time: Option<String>| {
        if let (Some(party), Some(time)) = (party, time) {
            let entry = times.entry(party).or_default();
            if time > *entry {
                *entry = time;
            }
        }
    };
    // A first read reads every party anyway: what else changed is news only later.
    let others_changed = !mark.is_start();
    for row in others_changed
        .then(|| {
            tryton.search_read(
                "party.contact_mechanism",
                and(json!(["type", "=", "email"]), &domain),
                None,
                Value::Null,
                &["party", "create_date", "write_date"],
            )
        })
        .transpose()?
        .unwrap_or_default()
    {
        touch(row["party"].as_i64(), newest(object(&row), &DATES));
    }
    if others_changed && has("credit_limit_amount") {
        for row in tryton.search_read(
            "account.move.line",
            and(json!(["account.type.receivable", "=", true]), &domain),
            None,
            Value::Null,
            &["party", "create_date", "write_date"],
        )? {
            touch(row["party"].as_i64(), newest(object(&row), &DATES));
        }
    }
    let mut fields = vec!["code", "name", "email", "create_date", "write_date"];
    if has("customer_payment_term") {
        fields.push("customer_payment_term.name");
    }
    if has("sale_price_list") {
        fields.push("sale_price_list.name");
    }
    if has("credit_limit_amount") {
        fields.extend(["credit_limit_amount", "credit_amount"]);
    }
    let others: Vec<i64> = times.keys().copied().collect();
    let parties_domain = if mark.is_start() {
        json!([])
    } else {
        json!(["OR", domain, ["id", "in", others]])
    };
    let company_party = tryton.read("company.company", &[tryton.company_id()?], &["party"])?;
    let company_party = company_party.first().and_then(|row| row["party"].as_i64());
    let rows = tryton.search_read(
        "party.party",
        parties_domain,
        None,
        json!([["id", "ASC"]]),
        &fields,
    )?;

    let mut fresh = Vec::new();
    for row in &rows {
        let Some(id) = row["id"].as_i64() else {
            continue;
        };
        let party = Party {
            code: text(&row["code"]),
            name: text(&row["name"]),
            email: text(&row["email"]),
            payment_term: row["customer_payment_term."]["name"]
                .as_str()
                .map(str::to_owned),
            price_list: row["sale_price_list."]["name"].as_str().map(str::to_owned),
            credit_limit: value::decimal(&row["credit_limit_amount"]),
            credit_amount: value::decimal(&row["credit_amount"]),
        };
        if party.code.is_empty() || party.email.is_empty() || Some(id) == company_party {
            continue;
        }
        let time = newest(object(row), &DATES)
            .into_iter()
            .chain(times.get(&id).cloned())
            .max()
            .unwrap_or_default();
        if !mark.is_new(&time, &party.code) {
            continue;
        }
        match account(&party, &currency, &groups) {
            Ok(account) => fresh.push(Fresh::keyed(time, party.code.clone(), account)),
            Err(why) => log::error(format!(
                "party={id} code={} Left out a customer account: {why}.",
                party.code
            )),
        }
    }
    page(
        crate::CUSTOMER_ACCOUNTS,
        mark,
        fresh,
        limit,
        "customer accounts",
    )
}

/// `clause` and the changed-since `domain` (empty: everything) together.
fn and(clause: Value, domain: &Value) -> Value {
    match domain.as_array() {
        Some(parts) if !parts.is_empty() => json!([clause, domain]),
        _ => json!([clause]),
    }
}

/// A string field as text; null as `""`.
fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> Party {
        Party {
            code: "C0042".into(),
            name: "Ada Ltd".into(),
            email: "ada@example.com".into(),
            payment_term: Some("Net 30".into()),
            price_list: Some("Wholesale 2026".into()),
            credit_limit: Some("100.00".into()),
            credit_amount: Some("38.9".into()),
        }
    }

    #[test]
    fn a_party_becomes_an_account_with_its_terms_credit_and_group() {
        let groups = BTreeMap::from([("Wholesale 2026", "Wholesale")]);
        let account = account(&ada(), "EUR", &groups).unwrap();
        assert_eq!(
            serde_json::to_value(&account).unwrap(),
            json!({"code": "C0042", "name": "Ada Ltd", "email": "ada@example.com",
                "group": "Wholesale", "payment_terms": "Net 30", "credit_limit": "100.00",
                "currency": "EUR", "on_hold": false})
        );
    }

    #[test]
    fn on_hold_once_the_receivable_reaches_the_limit() {
        let none = BTreeMap::new();
        let at = Party {
            credit_amount: Some("100.0000".into()),
            ..ada()
        };
        assert!(account(&at, "EUR", &none).unwrap().on_hold);
        let zero = Party {
            credit_limit: Some("0".into()),
            credit_amount: Some("0".into()),
            ..ada()
        };
        assert!(account(&zero, "EUR", &none).unwrap().on_hold);
        let unlimited = Party {
            credit_limit: None,
            credit_amount: Some("1000000".into()),
            ..ada()
        };
        let free = account(&unlimited, "EUR", &none).unwrap();
        assert!(!free.on_hold);
        assert_eq!(free.credit_limit, None);
        assert_eq!(free.group, None);
        let yen = Party {
            credit_limit: Some("50000".into()),
            ..ada()
        };
        assert_eq!(
            account(&yen, "JPY", &none).unwrap().credit_limit.as_deref(),
            Some("50000")
        );
    }
}
