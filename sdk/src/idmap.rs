//! Cross-references between the ids two systems give the same thing, kept by the
//! host per tenant and durable across runs.
//!
//! A `namespace` names one relation, like `customer:shop->erp`: in it, a source
//! id maps to one target id and back. A plugin that must refer to a record of
//! another system (an order's customer, by the ERP's customer code) links the two
//! ids when it learns them and resolves them later.
//!
//! The host keeps links of its own in namespaces `flow:<flow-name>` (each record
//! a flow wrote: source key -> the id the destination returned, see
//! [`Reconcile`](crate::Reconcile)); name yours otherwise.
//!
//! This module wraps the `idmap` import; it keeps no state of its own.

use crate::Error;
use crate::bindings::connector::tenon::connector::idmap as wit;

/// Records that `source_id` corresponds to `target_id` in `namespace`, replacing
/// an earlier link of either id there.
pub fn link(namespace: &str, source_id: &str, target_id: &str) -> Result<(), Error> {
    wit::link(namespace, source_id, target_id)
}

/// The target id linked to `source_id` in `namespace`, if any.
pub fn resolve(namespace: &str, source_id: &str) -> Option<String> {
    wit::resolve(namespace, source_id)
}

/// The source id linked to `target_id` in `namespace`, if any.
pub fn reverse(namespace: &str, target_id: &str) -> Option<String> {
    wit::reverse(namespace, target_id)
}
