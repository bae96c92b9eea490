//! Tests of the dispatch task against in-memory fakes of the store and modems.
