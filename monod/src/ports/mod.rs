//! Ports: the formula (from the contract, [`mono_proto::ports`]) and which
//! of a slot's ports some other program already listens on ([`listening`]).

pub mod listening;

pub use mono_proto::ports::*;
