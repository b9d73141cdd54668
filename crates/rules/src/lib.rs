//! Hunt rules: the model, the loaders (built-in files embedded in the binary, and `--rules DIR`),
//! the matcher and the literal prefilters derived from the rules.
//!
//! The format is documented in `docs/rule-format.md`. Detection content is data: nothing here
//! knows about a particular CVE.

pub mod condition;
pub mod fields;
pub mod files;
pub mod folded;
pub mod matcher;
pub mod prefilter;
pub mod rps_cat;
pub mod rule;
mod set;
pub mod stock;

pub use fields::{Binding, BoundRecord, FieldTable, Fields, MapRecord};
pub use prefilter::{Prefilter, Present};
pub use rule::{Hit, Rule, RuleMeta};
pub use set::{LoadProblem, RuleSet, TestFailure};
pub use stock::{PageClass, StockPages};
