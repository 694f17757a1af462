//! Fake outside servers for tests, each speaking its API's wire format from
//! `shared/contracts/`.

pub mod gmail;
pub mod http;
pub mod llm;
pub mod notion;
pub mod slack;
pub mod webhook;
