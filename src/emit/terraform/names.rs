//! How the configuration names and refers to things: resource labels (unique per resource
//! type), the provider alias of each region, and references to the topics managed or looked up
//! here. No HCL blocks of its own beyond the `provider` line.

use super::hcl::{Expr, Hcl};
use crate::emit::words;
use std::collections::BTreeMap;

/// A Terraform identifier from a name: `IAMPolicyChanges` -> `iam_policy_changes`.
pub fn ident(name: &str) -> String {
    let w = words(name);
    let s = if w.is_empty() { "resource".to_string() } else { w.join("_") };
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("r_{s}")
    } else {
        s
    }
}

/// A region as an identifier (`eu-west-1` -> `eu_west_1`), for provider aliases and
/// per-region names.
pub(super) fn region_ident(region: &str) -> String {
    region.replace('-', "_")
}

/// The topic name inside an SNS topic ARN, if it is one.
pub(super) fn topic_name(arn: &str) -> Option<&str> {
    crate::model::topic_arn_parts(arn).map(|x| x.3)
}

/// Labels and references of one configuration.
pub(super) struct Names {
    /// Several regions: every block names its region's aliased provider, and labels carry the
    /// region so the same filter in two regions gets two resources.
    pub multi_region: bool,
    /// Topic ARN -> reference expression, for topics created or looked up here.
    pub topic_refs: BTreeMap<String, String>,
    /// Labels taken, per resource type.
    taken: BTreeMap<&'static str, Vec<String>>,
}

impl Names {
    pub fn new(multi_region: bool) -> Names {
        Names { multi_region, topic_refs: BTreeMap::new(), taken: BTreeMap::new() }
    }

    /// A label for a resource of type `ty` named `name`, unique among that type's labels
    /// (`_2`, `_3`, ... on a clash).
    pub fn label(&mut self, ty: &'static str, name: &str, region: &str) -> String {
        let mut base = ident(name);
        if self.multi_region {
            base = format!("{base}_{}", region_ident(region));
        }
        let taken = self.taken.entry(ty).or_default();
        let mut l = base.clone();
        let mut n = 2;
        while taken.contains(&l) {
            l = format!("{base}_{n}");
            n += 1;
        }
        taken.push(l.clone());
        l
    }

    /// The `provider = aws.<region>` line of a block, when there are several regions.
    pub fn provider(&self, h: &mut Hcl, region: &str) {
        if self.multi_region {
            h.attr(1, "provider", &Expr::Raw(format!("aws.{}", region_ident(region))));
        }
    }

    /// An ARN as an expression: a reference when the topic is managed or looked up here.
    pub fn arn(&self, arn: &str) -> Expr {
        match self.topic_refs.get(arn) {
            Some(r) => Expr::Raw(r.clone()),
            None => Expr::Str(arn.to_string()),
        }
    }

    pub fn arns(&self, list: &[String]) -> Expr {
        Expr::List(list.iter().map(|a| self.arn(a)).collect())
    }
}
