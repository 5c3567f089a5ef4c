//! Who the alarms notify, as the configuration states it: the topics the plan creates, the
//! subscriptions it adds (grouped into one `for_each` resource per topic), and the variables
//! that carry them (`variables.tf`): `topic_name`, and the subscriber list(s).

use super::hcl::{Expr, Hcl};
use super::names::{region_ident, topic_name};
use crate::plan::{Action, Change, Plan, Resource, TopicSpec};

/// The subscriptions the plan adds to one topic: (topic ARN, region of the first, changes).
pub(super) type SubscriptionGroup<'p> = (String, String, Vec<&'p Change>);

/// The plan's notification changes, and how the configuration names them.
pub(super) struct Notify<'p> {
    /// Topics the plan creates.
    pub created: Vec<(&'p Change, &'p TopicSpec)>,
    /// Subscriptions the plan adds, in plan order.
    pub subs: Vec<&'p Change>,
    /// The subscriptions per topic, in order of first appearance.
    pub groups: Vec<SubscriptionGroup<'p>>,
    /// The default of `var.topic_name`: the first created topic's name, else the name of the
    /// topic the first subscription attaches to.
    topic_name: Option<String>,
    /// Whether topic names are written as `var.topic_name`: only when every topic here has
    /// that one name, so the variable cannot rename a topic it was not meant for.
    topic_var: bool,
    /// Whether every topic gets the same subscribers, so one `subscriptions` variable serves
    /// all regions (else one `subscriptions_<region>` each).
    one_sub_var: bool,
}

impl<'p> Notify<'p> {
    pub fn of(p: &'p Plan) -> Notify<'p> {
        let created = created_topics(p);
        let subs: Vec<&Change> =
            p.changes.iter().filter(|c| matches!(c.resource(), Resource::SnsSubscription(_))).collect();
        let topic_name = created.first().map(|(_, t)| t.name.clone()).or_else(|| {
            subs.first().and_then(|c| match c.resource() {
                Resource::SnsSubscription(s) => topic_name(&s.topic_arn).map(str::to_string),
                _ => None,
            })
        });
        let topic_var = topic_name.is_some() && all_topics_named(topic_name.as_deref(), &created, &subs);
        let groups = group_by_topic(&subs);
        let one_sub_var = groups.windows(2).all(|w| endpoints(&w[0].2) == endpoints(&w[1].2));
        Notify { created, subs, groups, topic_name, topic_var, one_sub_var }
    }

    /// A topic's name: `var.topic_name` when the variable stands for it, else the literal.
    pub fn topic_name_expr(&self, name: &str) -> Expr {
        if self.topic_var {
            Expr::Raw("var.topic_name".into())
        } else {
            Expr::Str(name.to_string())
        }
    }

    /// The variable listing the subscribers of the topic in `region`.
    pub fn sub_var(&self, region: &str) -> String {
        if self.one_sub_var {
            "subscriptions".into()
        } else {
            format!("subscriptions_{}", region_ident(region))
        }
    }

    /// The group of subscriptions to `topic_arn`.
    pub fn group(&self, topic_arn: &str) -> Option<&SubscriptionGroup<'p>> {
        self.groups.iter().find(|(a, _, _)| *a == topic_arn)
    }
}

fn created_topics(p: &Plan) -> Vec<(&Change, &TopicSpec)> {
    p.changes
        .iter()
        .filter_map(|c| match c.resource() {
            Resource::SnsTopic(t) if c.action == Action::Create => Some((c, t)),
            _ => None,
        })
        .collect()
}

/// Whether every created topic, and every topic that gets subscribers, is named `name`.
fn all_topics_named(name: Option<&str>, created: &[(&Change, &TopicSpec)], subs: &[&Change]) -> bool {
    created.iter().all(|(_, t)| Some(t.name.as_str()) == name)
        && subs.iter().all(|c| match c.resource() {
            Resource::SnsSubscription(s) => topic_name(&s.topic_arn) == name,
            _ => true,
        })
}

fn group_by_topic<'p>(subs: &[&'p Change]) -> Vec<SubscriptionGroup<'p>> {
    let mut groups: Vec<SubscriptionGroup> = Vec::new();
    for c in subs {
        if let Resource::SnsSubscription(s) = c.resource() {
            match groups.iter_mut().find(|(a, _, _)| *a == s.topic_arn) {
                Some((_, _, v)) => v.push(c),
                None => groups.push((s.topic_arn.clone(), c.region.clone(), vec![c])),
            }
        }
    }
    groups
}

/// (protocol, endpoint) of each subscription.
fn endpoints(v: &[&Change]) -> Vec<(String, String)> {
    v.iter()
        .filter_map(|c| match c.resource() {
            Resource::SnsSubscription(s) => Some((s.protocol.clone(), s.endpoint.clone())),
            _ => None,
        })
        .collect()
}

/// `variables.tf`: the topic name (when one name serves every topic), then one subscriber
/// list per distinct variable, each with the plan's values as its default.
pub(super) fn variables(n: &Notify) -> Hcl {
    let mut vars = Hcl::default();
    if n.topic_var {
        if let Some(name) = &n.topic_name {
            topic_name_variable(&mut vars, name, !n.created.is_empty());
        }
    }
    let mut declared: Vec<String> = Vec::new();
    for (_, region, group) in &n.groups {
        let var = n.sub_var(region);
        if declared.contains(&var) {
            continue;
        }
        declared.push(var.clone());
        if !vars.is_empty() {
            vars.blank();
        }
        subscriptions_variable(&mut vars, &var, group);
    }
    vars
}

fn topic_name_variable(vars: &mut Hcl, name: &str, managed: bool) {
    vars.open(0, "variable \"topic_name\"");
    vars.attr(
        1,
        "description",
        &Expr::Str(if managed {
            "Name of the SNS topic the CIS alarms notify (created here).".into()
        } else {
            "Name of the existing SNS topic the CIS alarms notify.".into()
        }),
    );
    vars.attr(1, "type", &Expr::Raw("string".into()));
    vars.attr(1, "default", &Expr::Str(name.to_string()));
    vars.close(0);
}

fn subscriptions_variable(vars: &mut Hcl, var: &str, group: &[&Change]) {
    vars.open(0, &format!("variable \"{var}\""));
    vars.attr(
        1,
        "description",
        &Expr::Str("Who the alarms reach: SNS subscriptions on the topic (email ones stay pending until the recipient confirms).".into()),
    );
    vars.attr(1, "type", &Expr::Raw("list(object({ protocol = string, endpoint = string }))".into()));
    let items: Vec<Expr> = endpoints(group)
        .into_iter()
        .map(|(pr, ep)| Expr::Obj(vec![("protocol".into(), Expr::Str(pr)), ("endpoint".into(), Expr::Str(ep))]))
        .collect();
    vars.attr(1, "default", &Expr::List(items));
    vars.close(0);
}
