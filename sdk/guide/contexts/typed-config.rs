// `Configuration`: a connector's settings as a struct.
use tenon_sdk::prelude::*;

// snippet
