//! The catalogue of why each monitoring control matters (`baselines/explain/controls.toml`),
//! keyed by the metric name the shipped baselines use. Controls take what they do not say
//! themselves from here.

use super::Severity;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Explanation {
    pub severity: Severity,
    pub rationale: String,
    pub remediation: String,
}

const CATALOGUE: &str = include_str!("../../baselines/explain/controls.toml");

fn catalogue() -> &'static BTreeMap<String, Explanation> {
    static C: OnceLock<BTreeMap<String, Explanation>> = OnceLock::new();
    // A test parses the file; a broken catalogue must not take the tool down, only its texts.
    C.get_or_init(|| toml::from_str(CATALOGUE).unwrap_or_default())
}

/// The explanation of the control that emits `metric`, if the catalogue has one.
pub(super) fn for_metric(metric: &str) -> Option<&'static Explanation> {
    catalogue().get(metric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_parses_and_covers_every_shipped_control() {
        let parsed: BTreeMap<String, Explanation> = toml::from_str(CATALOGUE).unwrap();
        assert_eq!(parsed.len(), 16);
        for name in super::super::shipped_names() {
            for c in super::super::load(name).unwrap().controls {
                assert!(c.rationale.is_some() && c.severity.is_some() && c.remediation.is_some(), "{name} {}", c.id);
            }
        }
    }
}
