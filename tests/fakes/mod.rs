//! Fake outside servers for tests, each speaking its API's wire format from
//! `shared/contracts/`.

pub mod llm;
