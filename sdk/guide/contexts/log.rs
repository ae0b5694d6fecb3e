// `Logging`: at the end of a `read`.
use tenon_sdk::prelude::*;

fn logged(records: Vec<Envelope>, mark: Watermark) {
// snippet
}
