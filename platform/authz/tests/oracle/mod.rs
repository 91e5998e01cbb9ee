//! Casbin itself on policies/model.conf and policies/base.csv, with the
//! platform's `inSubtree`, plus a small deterministic generator: shared by
//! the agreement test and the decision benchmark.

use casbin::function_map::OperatorFunction;
use casbin::prelude::*;
use casbin::rhai::Dynamic;
use civitas_authz::{BASE_POLICY, Grant, MODEL};

/// Casbin's `inSubtree(request tenant, grant tenant)`.
fn in_subtree(request: Dynamic, grant: Dynamic) -> Dynamic {
    let (request, grant) = (request.to_string(), grant.to_string());
    Dynamic::from(request == grant || request.starts_with(&format!("{grant}/")))
}

/// An enforcer over the shipped model, the base policy and `grants`.
pub async fn casbin(grants: &[Grant]) -> Enforcer {
    let mut policy = BASE_POLICY.to_owned();
    for g in grants {
        policy.push_str(&format!(
            "\np, {}, {}, {}, {}",
            g.account, g.tenant, g.line, g.role
        ));
    }
    let model = DefaultModel::from_str(MODEL).await.unwrap();
    let mut enforcer = Enforcer::new(model, StringAdapter::new(policy))
        .await
        .unwrap();
    enforcer.add_function("inSubtree", OperatorFunction::Arg2(in_subtree));
    enforcer
}

/// A small deterministic generator (no dependency needed for a test).
pub struct Lcg(pub u64);

impl Lcg {
    /// The next number below `n`.
    pub fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}
