// `Webhooks`: a source connector that also takes the vendor's webhooks.
use tenon_sdk::prelude::*;

struct Shop;

impl Connector for Shop {
    fn describe() -> Descriptor {
        descriptor!(Kind::Commerce)
    }

    fn check() -> Result<(), Error> {
        Ok(())
    }
}

// snippet
