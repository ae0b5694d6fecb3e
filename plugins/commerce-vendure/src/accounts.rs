//! The `customer-accounts` stream: canonical [`CustomerAccount`]s kept on the
//! Vendure customers they belong to, and listed for `reconcile`.
//!
//! A record finds its customer by e-mail (trimmed and lower-cased, as Vendure
//! stores e-mail addresses; an unknown one is a permanent error: accounts do
//! not create logins) and sets the customer's custom fields `accountCode`
//! (unique: a code already on another customer is a permanent error),
//! `accountName`, `paymentTerms`, `creditLimit` (the canonical decimal with the
//! currency's decimals), `accountCurrency` and `onHold`. Its `group` is a
//! Vendure customer group of that name (created if missing) the customer is
//! made a member of; the group written last is kept in `accountGroup`, and a
//! customer whose account moves to another group, or to none, leaves the one
//! written before (groups the connector did not put it in are left alone).
//! Only what differs is written: a record delivered twice changes nothing. The
//! outcome id is the customer id.
//!
//! Vendure does nothing with `onHold`, the terms or the credit limit: they are
//! held for the storefront and the staff; holding orders is `order-states`'
//! job. A customer's B2B channel (`price-lists`) admits it by its
//! `accountCode`, a group's channel by its membership of that group.
//!
//! `reconcile` lists every customer with an `accountCode`, keyed by customer
//! id, as its canonical account: `group` is `accountGroup` while the customer
//! is a member of a group of that name.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tenon_sdk::canonical::CustomerAccount;
use tenon_sdk::prelude::*;

use crate::{CUSTOMER_ACCOUNTS, graphql, listing};

/// The fields of a customer a write and `reconcile` compare.
const CUSTOMER_FIELDS: &str = "id emailAddress groups { id name } customFields { accountCode accountName accountGroup paymentTerms creditLimit accountCurrency onHold }";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Customer {
    id: String,
    email_address: String,
    #[serde(default)]
    groups: Vec<Group>,
    #[serde(default)]
    custom_fields: AccountFields,
}

#[derive(Debug, Clone, Deserialize)]
struct Group {
    id: String,
    name: String,
}

/// The account as the customer's custom fields hold it; `None` clears a field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountFields {
    account_code: Option<String>,
    account_name: Option<String>,
    account_group: Option<String>,
    payment_terms: Option<String>,
    credit_limit: Option<String>,
    account_currency: Option<String>,
    on_hold: Option<bool>,
}

/// Keeps each record on its customer; the outcome is the customer id.
pub fn write(batch: &[Delivery]) -> Result<Vec<Outcome>, Error> {
    Ok(record::apply_each(batch, |delivery| {
        if delivery.envelope.op == Op::Delete {
            return Err(Error::permanent(
                "customer accounts cannot be deleted through Tenon; send `on_hold: true`",
            ));
        }
        let account: CustomerAccount = delivery.json()?;
        let email = normalized(&account.email);
        let wanted = fields(&account)?;
        let customer = by_email(&email)?.ok_or_else(|| {
            Error::permanent(format!(
                "no Vendure customer has the e-mail `{email}` (account `{}`): accounts are kept on existing customers",
                account.code
            ))
        })?;
        if let Some(other) = by_code(&account.code)?.filter(|c| c.id != customer.id) {
            return Err(Error::permanent(format!(
                "account code `{}` is already on Vendure customer {} ({})",
                account.code, other.id, other.email_address
            )));
        }
        keep_group(&customer, wanted.account_group.as_deref())?;
        if customer.custom_fields != wanted {
            let mut data: Value = graphql::query(
                "mutation Customer($input: UpdateCustomerInput!) { updateCustomer(input: $input) { ... on Customer { id } ... on ErrorResult { errorCode message } } }",
                json!({"input": {"id": customer.id, "customFields": wanted}}),
            )?;
            let result = data["updateCustomer"].take();
            if result.get("id").is_none() {
                return Err(Error::permanent(format!(
                    "Vendure refused the account on customer {} ({}): {}",
                    customer.id,
                    result["errorCode"].as_str().unwrap_or("?"),
                    result["message"].as_str().unwrap_or("no message")
                )));
            }
            log::info(format!(
                "customer={} code={} Kept an account on a Vendure customer.",
                customer.id, account.code
            ));
        }
        Ok(Some(customer.id))
    }))
}

/// An e-mail address as Vendure stores it.
fn normalized(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The custom fields `account` asks for, if they are valid.
fn fields(account: &CustomerAccount) -> Result<AccountFields, Error> {
    if account.code.is_empty() {
        return Err(Error::permanent("the account code is empty"));
    }
    if normalized(&account.email).is_empty() {
        return Err(Error::permanent(format!(
            "account `{}` has no e-mail",
            account.code
        )));
    }
    if account.group.as_deref().is_some_and(str::is_empty) {
        return Err(Error::permanent(format!(
            "account `{}`: the group is empty (leave it out for none)",
            account.code
        )));
    }
    let credit_limit = account
        .credit_limit
        .as_deref()
        .map(|amount| {
            money::minor_units(amount, &account.currency)
                .map(|minor| money::decimal(minor, &account.currency))
                .map_err(|e| {
                    Error::permanent(format!("account `{}`: credit limit {e}", account.code))
                })
        })
        .transpose()?;
    Ok(AccountFields {
        account_code: Some(account.code.clone()),
        account_name: Some(account.name.clone()),
        account_group: account.group.clone(),
        payment_terms: account.payment_terms.clone(),
        credit_limit,
        account_currency: Some(account.currency.clone()),
        on_hold: Some(account.on_hold),
    })
}

fn customers(filter: Value) -> Result<Vec<Customer>, Error> {
    let mut data: Value = graphql::query(
        &format!(
            "query Customers($options: CustomerListOptions) {{ customers(options: $options) {{ items {{ {CUSTOMER_FIELDS} }} }} }}"
        ),
        json!({"options": {"filter": filter, "sort": {"id": "ASC"}, "take": 10}}),
    )?;
    Vec::<Customer>::deserialize(data["customers"]["items"].take()).map_err(|e| {
        Error::permanent(format!(
            "Vendure's `customers` have an unexpected shape: {e}"
        ))
    })
}

fn by_email(email: &str) -> Result<Option<Customer>, Error> {
    Ok(customers(json!({"emailAddress": {"eq": email}}))?
        .into_iter()
        .find(|c| normalized(&c.email_address) == email))
}

fn by_code(code: &str) -> Result<Option<Customer>, Error> {
    Ok(customers(json!({"accountCode": {"eq": code}}))?
        .into_iter()
        .find(|c| c.custom_fields.account_code.as_deref() == Some(code)))
}

/// Makes the customer a member of `group` (created if missing) and takes it
/// out of the group written before, if that is another one.
fn keep_group(customer: &Customer, group: Option<&str>) -> Result<(), Error> {
    if let Some(name) = group
        && !customer.groups.iter().any(|g| g.name == name)
    {
        match group_by_name(name)? {
            Some(existing) => {
                let _: Value = graphql::query(
                    "mutation Add($g: ID!, $c: [ID!]!) { addCustomersToGroup(customerGroupId: $g, customerIds: $c) { id } }",
                    json!({"g": existing.id, "c": [customer.id]}),
                )?;
            }
            None => {
                let _: Value = graphql::query(
                    "mutation Group($input: CreateCustomerGroupInput!) { createCustomerGroup(input: $input) { id } }",
                    json!({"input": {"name": name, "customerIds": [customer.id]}}),
                )?;
                log::info(format!("group={name} Created a Vendure customer group."));
            }
        }
    }
    let before = customer.custom_fields.account_group.as_deref();
    if let Some(old) = before.filter(|old| Some(*old) != group)
        && let Some(member) = customer.groups.iter().find(|g| g.name == old)
    {
        let _: Value = graphql::query(
            "mutation Remove($g: ID!, $c: [ID!]!) { removeCustomersFromGroup(customerGroupId: $g, customerIds: $c) { id } }",
            json!({"g": member.id, "c": [customer.id]}),
        )?;
        log::info(format!(
            "customer={} group={old} Took a Vendure customer out of its former group.",
            customer.id
        ));
    }
    Ok(())
}

fn group_by_name(name: &str) -> Result<Option<Group>, Error> {
    let mut data: Value = graphql::query(
        "query Groups($options: CustomerGroupListOptions) { customerGroups(options: $options) { items { id name } } }",
        json!({"options": {"filter": {"name": {"eq": name}}, "sort": {"id": "ASC"}}}),
    )?;
    let groups =
        Vec::<Group>::deserialize(data["customerGroups"]["items"].take()).map_err(|e| {
            Error::permanent(format!(
                "Vendure's `customerGroups` have an unexpected shape: {e}"
            ))
        })?;
    Ok(groups.into_iter().find(|g| g.name == name))
}

/// The canonical account a customer holds, if it holds one.
fn canonical(customer: &Customer) -> Option<CustomerAccount> {
    let f = &customer.custom_fields;
    Some(CustomerAccount {
        code: f.account_code.clone()?,
        name: f.account_name.clone().unwrap_or_default(),
        email: customer.email_address.clone(),
        group: f
            .account_group
            .clone()
            .filter(|g| customer.groups.iter().any(|member| &member.name == g)),
        payment_terms: f.payment_terms.clone(),
        credit_limit: f.credit_limit.clone(),
        currency: f.account_currency.clone().unwrap_or_default(),
        on_hold: f.on_hold.unwrap_or(false),
    })
}

/// One page of every customer with an account, keyed by customer id, in id
/// order.
pub fn reconcile(cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let query = format!(
        "query Customers($options: CustomerListOptions) {{ customers(options: $options) {{ items {{ {CUSTOMER_FIELDS} }} }} }}"
    );
    let page = listing::page(
        &listing::Listed::new(&query, "customers")
            .filter(json!({"accountCode": {"isNull": false}})),
        cursor,
        limit,
        |c: &Customer| &c.id,
        |c| {
            canonical(c)
                .map(|account| {
                    Ok((
                        String::new(),
                        Envelope::upsert(CUSTOMER_ACCOUNTS, &c.id, &account, None)?,
                    ))
                })
                .into_iter()
                .collect()
        },
    )?;
    log::info(format!(
        "count={} more={} Listed Vendure customer accounts.",
        page.records.len(),
        page.more
    ));
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> CustomerAccount {
        CustomerAccount {
            code: "C0042".into(),
            name: "Analytical Engines Ltd".into(),
            email: " Ada@Example.com".into(),
            group: Some("Wholesale".into()),
            payment_terms: Some("Net 30".into()),
            credit_limit: Some("5000".into()),
            currency: "EUR".into(),
            on_hold: false,
        }
    }

    #[test]
    fn an_account_becomes_custom_fields_with_an_exact_credit_limit() {
        let f = fields(&account()).unwrap();
        assert_eq!(f.credit_limit.as_deref(), Some("5000.00"));
        assert_eq!(f.account_code.as_deref(), Some("C0042"));
        assert_eq!(f.on_hold, Some(false));
        let mut yen = account();
        yen.currency = "JPY".into();
        yen.credit_limit = Some("500000".into());
        assert_eq!(
            fields(&yen).unwrap().credit_limit.as_deref(),
            Some("500000")
        );
        yen.credit_limit = Some("1.5".into());
        assert!(fields(&yen).unwrap_err().message().contains("credit limit"));
        let mut groupless = account();
        groupless.group = Some(String::new());
        assert!(fields(&groupless).is_err());
        let mut codeless = account();
        codeless.code = String::new();
        assert!(fields(&codeless).is_err());
        assert_eq!(normalized(" Ada@Example.com "), "ada@example.com");
    }

    #[test]
    fn a_customer_reads_back_as_the_account_written() {
        let mut written = account();
        written.email = "ada@example.com".into();
        written.credit_limit = Some("5000.00".into());
        let customer = |groups: &[&str]| Customer {
            id: "9".into(),
            email_address: "ada@example.com".into(),
            groups: groups
                .iter()
                .map(|g| Group {
                    id: "1".into(),
                    name: (*g).into(),
                })
                .collect(),
            custom_fields: fields(&written).unwrap(),
        };
        assert_eq!(
            canonical(&customer(&["VIP", "Wholesale"])),
            Some(written.clone())
        );
        // Taken out of its group behind Tenon's back: no group.
        assert_eq!(canonical(&customer(&["VIP"])).unwrap().group, None);
        let plain = Customer {
            custom_fields: AccountFields::default(),
            ..customer(&[])
        };
        assert_eq!(canonical(&plain), None);
    }
}
