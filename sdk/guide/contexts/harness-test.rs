// `Testing`: a file of the connector crate's `tests/` folder.
// snippet
