//! `providers.tf` (one AWS provider per region, aliased when there are several, pinned to the
//! plan's account) and `versions.tf` (Terraform >= 1.5 for `import` blocks, AWS provider >= 5).

use super::hcl::{Expr, Hcl};
use super::names::region_ident;
use crate::plan::{Change, Plan};

/// `providers.tf` for the regions the plan changes; with no changes, the chain's region (so
/// the configuration still initialises).
pub(super) fn providers(p: &Plan, regions: &[(String, Vec<&Change>)], multi_region: bool) -> Hcl {
    let mut providers = Hcl::default();
    let region_list: Vec<String> = if regions.is_empty() {
        vec![p
            .chain
            .as_ref()
            .map(|c| c.log_group.region.clone())
            .or_else(|| p.regions.first().cloned())
            .unwrap_or_else(|| "us-east-1".into())]
    } else {
        regions.iter().map(|(r, _)| r.clone()).collect()
    };
    for (i, r) in region_list.iter().enumerate() {
        if i > 0 {
            providers.blank();
        }
        providers.open(0, "provider \"aws\"");
        if multi_region {
            providers.attr(1, "alias", &Expr::Str(region_ident(r)));
        }
        providers.attr(1, "region", &Expr::Str(r.clone()));
        providers.attr(1, "allowed_account_ids", &Expr::List(vec![Expr::Str(p.account.clone())]));
        providers.close(0);
    }
    providers
}

pub(super) fn versions() -> Hcl {
    let mut versions = Hcl::default();
    versions.open(0, "terraform");
    versions.attr(1, "required_version", &Expr::Str(">= 1.5.0".into()));
    versions.blank();
    versions.open(1, "required_providers");
    versions.attr(
        2,
        "aws",
        &Expr::Obj(vec![
            ("source".into(), Expr::Str("hashicorp/aws".into())),
            ("version".into(), Expr::Str(">= 5.0".into())),
        ]),
    );
    versions.close(1);
    versions.close(0);
    versions
}
