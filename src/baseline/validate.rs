//! Checks a resolved baseline and turns it into a [`Baseline`]: one function per section, each
//! error at the file and line that set the value. Settings AWS would refuse, or that could
//! never raise an alarm (a threshold of NaN, 0 evaluation periods), are refused here, before
//! they reach a plan.

use super::raw::{RawAlarm, RawControl, RawNotification, Source};
use super::resolve::{Draft, From, Resolved};
use super::{
    AlarmSettings, Baseline, Control, Error, Notification, SavedQuery, Severity, TopicRef, WantedSubscription,
    MAX_CONTROLS, RETENTION_DAYS,
};
use crate::model::{ComparisonOperator, Statistic, TreatMissingData};
use crate::pattern;
use std::collections::BTreeMap;
use std::sync::Arc;
use toml::Spanned;

pub(super) fn validate(r: Resolved, origin: &str) -> Result<Baseline, Error> {
    let whole = |message: String| Error::Invalid { path: origin.to_string(), line: None, message };
    let name = r.name.clone().ok_or_else(|| Error::Invalid {
        path: origin.to_string(),
        line: Some(1),
        message: "missing `name`".into(),
    })?;
    if r.controls.is_empty() && r.queries.is_empty() && r.min_retention_days.is_none() {
        return Err(whole("the baseline has no controls, queries or retention requirement".into()));
    }
    if r.controls.len() > MAX_CONTROLS {
        return Err(whole(format!(
            "{} controls: CloudWatch Logs allows at most {MAX_CONTROLS} metric filters on a log group, so at most {MAX_CONTROLS} controls can hold at once",
            r.controls.len()
        )));
    }
    let min_retention_days = retention(&r)?;
    let queries = queries(&r)?;
    let alarm = alarm_settings(&r.alarm_parts)?;
    let notification = notification(&r.notification)?;
    let namespace = r.namespace.clone().unwrap_or_else(|| "CISBenchmark".into());
    let controls = controls(r.controls, &namespace)?;
    Ok(Baseline {
        name,
        title: r.title.unwrap_or_default(),
        source: r.source.unwrap_or_default(),
        aliases: r.aliases,
        notes: r.notes,
        origin: origin.to_string(),
        alarm,
        notification,
        controls,
        queries,
        min_retention_days,
    })
}

fn retention(r: &Resolved) -> Result<Option<i32>, Error> {
    let Some(From { value: d, src }) = &r.min_retention_days else { return Ok(None) };
    if !RETENTION_DAYS.contains(d.get_ref()) {
        return Err(src.at(
            d,
            format!(
                "log_group.min_retention_days {} is not a value CloudWatch Logs accepts ({RETENTION_DAYS:?})",
                d.get_ref()
            ),
        ));
    }
    Ok(Some(*d.get_ref()))
}

fn queries(r: &Resolved) -> Result<Vec<SavedQuery>, Error> {
    let mut out = Vec::new();
    for From { value: q, src } in &r.queries {
        let v = q.get_ref();
        if v.name.trim().is_empty() || v.name.len() > 255 || v.query.trim().is_empty() || v.query.len() > 10_000 {
            return Err(src.at(
                q,
                format!("queries: `{}` needs a name (1-255 characters) and a query (1-10000 characters)", v.name),
            ));
        }
        out.push(v.clone());
    }
    Ok(out)
}

/// The last file that sets a key wins; errors point at that file's line.
fn last_set<T: Clone>(
    parts: &[From<RawAlarm>],
    get: impl Fn(&RawAlarm) -> &Option<Spanned<T>>,
) -> Option<(Spanned<T>, Arc<Source>)> {
    parts.iter().rev().find_map(|p| get(&p.value).clone().map(|v| (v, p.src.clone())))
}

fn alarm_settings(parts: &[From<RawAlarm>]) -> Result<AlarmSettings, Error> {
    let d = AlarmSettings::default();
    let statistic = match last_set(parts, |a| &a.statistic) {
        None => d.statistic,
        Some((v, src)) => known::<Statistic>(&v, &src, "alarm.statistic")?,
    };
    let comparison_operator = match last_set(parts, |a| &a.comparison_operator) {
        None => d.comparison_operator,
        Some((v, src)) => {
            let op = known::<ComparisonOperator>(&v, &src, "alarm.comparison_operator")?;
            if !op.is_static_threshold() {
                return Err(src.at(
                    &v,
                    format!("alarm.comparison_operator `{op}` needs an anomaly detection band; a CIS alarm compares with a fixed threshold"),
                ));
            }
            op
        }
    };
    let treat_missing_data = match last_set(parts, |a| &a.treat_missing_data) {
        None => d.treat_missing_data,
        Some((v, src)) => known::<TreatMissingData>(&v, &src, "alarm.treat_missing_data")?,
    };
    let period = match last_set(parts, |a| &a.period) {
        None => d.period,
        Some((v, src)) => {
            let p = *v.get_ref();
            // PutMetricAlarm: 10, 20, 30 (high resolution) or a multiple of 60, at most one day
            // times the evaluation periods; one day is the practical ceiling for a CIS alarm.
            if !(matches!(p, 10 | 20 | 30) || (p >= 60 && p % 60 == 0 && p <= 86_400)) {
                return Err(
                    src.at(&v, format!("alarm.period {p} must be 10, 20, 30 or a multiple of 60 up to 86400 seconds"))
                );
            }
            p
        }
    };
    let evaluation_periods = match last_set(parts, |a| &a.evaluation_periods) {
        None => d.evaluation_periods,
        Some((v, src)) => {
            let n = *v.get_ref();
            if !(1..=100).contains(&n) || i64::from(n) * i64::from(period) > 7 * 86_400 {
                return Err(src.at(
                    &v,
                    format!(
                        "alarm.evaluation_periods {n} must be 1-100 and cover at most 7 days at a period of {period} s"
                    ),
                ));
            }
            n
        }
    };
    let threshold = match last_set(parts, |a| &a.threshold) {
        None => d.threshold,
        Some((v, src)) => {
            let t = *v.get_ref();
            // The metric counts matching events (value 1 each): a threshold that is not a finite
            // positive number either never fires (NaN, inf) or always fires (0, negative).
            if !t.is_finite() || t <= 0.0 {
                return Err(src.at(&v, format!("alarm.threshold {t} must be a finite number greater than 0")));
            }
            t
        }
    };
    Ok(AlarmSettings { statistic, period, threshold, comparison_operator, evaluation_periods, treat_missing_data })
}

/// Parses an AWS enum value, refusing anything this cwfix does not know.
fn known<T>(v: &Spanned<String>, src: &Source, key: &str) -> Result<T, Error>
where
    T: std::convert::From<String> + AwsEnum,
{
    let parsed = T::from(v.get_ref().clone());
    if parsed.known() {
        Ok(parsed)
    } else {
        Err(src.at(v, format!("{key} `{}` is not one of {}", v.get_ref(), T::known_values().join(", "))))
    }
}

/// The part of the model's AWS string enums that validation needs.
trait AwsEnum {
    fn known(&self) -> bool;
    fn known_values() -> &'static [&'static str];
}

macro_rules! aws_enum {
    ($($t:ty),*) => {$(
        impl AwsEnum for $t {
            fn known(&self) -> bool { self.is_known() }
            fn known_values() -> &'static [&'static str] { <$t>::KNOWN }
        }
    )*};
}
aws_enum!(Statistic, ComparisonOperator, TreatMissingData);

fn notification(parts: &[From<RawNotification>]) -> Result<Notification, Error> {
    let last = |get: &dyn Fn(&RawNotification) -> bool| parts.iter().rev().find(|p| get(&p.value));
    let topic = match last(&|n| n.topic.is_some()) {
        None => TopicRef::Name("cwfix-cis-alarms".into()),
        Some(p) => topic(p.value.topic.as_ref().expect("checked above"), &p.src)?,
    };
    let kms_key = match last(&|n| n.kms_key.is_some()) {
        None => None,
        Some(p) => {
            let k = p.value.kms_key.as_ref().expect("checked above");
            if k.get_ref().ends_with("alias/aws/sns") {
                return Err(p.src.at(
                    k,
                    "notification.kms_key `alias/aws/sns`: CloudWatch alarms cannot publish to a topic encrypted with the AWS managed key; name a customer managed key whose policy allows cloudwatch.amazonaws.com".into(),
                ));
            }
            Some(k.get_ref().clone())
        }
    };
    let mut subscriptions = Vec::new();
    if let Some(p) = last(&|n| n.subscriptions.is_some()) {
        for s in p.value.subscriptions.iter().flatten() {
            let w = s.get_ref();
            super::target::validate(&w.protocol, &w.endpoint)
                .map_err(|e| p.src.at(s, format!("notification.subscriptions: {e}")))?;
            subscriptions.push(WantedSubscription { protocol: w.protocol.clone(), endpoint: w.endpoint.clone() });
        }
    }
    subscriptions.sort();
    subscriptions.dedup();
    Ok(Notification { topic, kms_key, subscriptions })
}

fn topic(t: &Spanned<String>, src: &Source) -> Result<TopicRef, Error> {
    super::parse_topic(t.get_ref()).map_err(|message| src.at(t, format!("notification.topic {message}")))
}

fn controls(drafts: Vec<Draft>, namespace: &str) -> Result<Vec<Control>, Error> {
    let mut controls = Vec::with_capacity(drafts.len());
    let mut filter_names = BTreeMap::new();
    let mut alarm_names = BTreeMap::new();
    for d in drafts {
        let c = control(d.raw, &d.src, namespace)?;
        if let Some(other) = filter_names.insert(c.filter_name.clone(), c.id.clone()) {
            return Err(d.src.whole(format!(
                "control `{}`: filter_name `{}` is used by control `{other}` too",
                c.id, c.filter_name
            )));
        }
        if let Some(other) = alarm_names.insert(c.alarm_name.clone(), c.id.clone()) {
            return Err(d
                .src
                .whole(format!("control `{}`: alarm_name `{}` is used by control `{other}` too", c.id, c.alarm_name)));
        }
        controls.push(c);
    }
    Ok(controls)
}

fn control(c: RawControl, src: &Source, default_ns: &str) -> Result<Control, Error> {
    let id = c.id.get_ref().clone();
    let at = |message: String| src.at(&c.id, message);
    if id.trim().is_empty() {
        return Err(at("control with an empty `id`".into()));
    }
    let title = c.title.ok_or_else(|| at(format!("control `{id}`: missing `title`")))?;
    let pattern_src = c.pattern.ok_or_else(|| at(format!("control `{id}`: missing `pattern`")))?;
    let pattern = pattern::parse(pattern_src.get_ref())
        .map_err(|e| src.at(&pattern_src, format!("control `{id}`: invalid filter pattern: {e}")))?;
    let metric_name = c.metric_name.ok_or_else(|| at(format!("control `{id}`: missing `metric_name`")))?;
    let namespace = c.namespace.unwrap_or_else(|| default_ns.to_string());
    let filter_name = c.filter_name.unwrap_or_else(|| format!("cwfix-{id}-{metric_name}"));
    let alarm_name = c.alarm_name.unwrap_or_else(|| filter_name.clone());
    for (what, v, max) in [
        ("metric_name", &metric_name, 255),
        ("namespace", &namespace, 255),
        ("filter_name", &filter_name, 512),
        ("alarm_name", &alarm_name, 255),
    ] {
        if v.is_empty() || v.len() > max || v.contains(':') && what != "alarm_name" || v.contains('*') {
            return Err(at(format!("control `{id}`: {what} `{v}` is empty, too long or has `:`/`*`")));
        }
    }
    let severity = match &c.severity {
        None => None,
        Some(s) => Some(s.get_ref().parse::<Severity>().map_err(|e| src.at(s, format!("control `{id}`: {e}")))?),
    };
    // What the control does not say itself comes from the catalogue of its metric.
    let known = super::explain::for_metric(&metric_name);
    let severity = severity.or(known.map(|k| k.severity));
    let rationale = c.rationale.or_else(|| known.map(|k| k.rationale.clone()));
    let remediation = c.remediation.or_else(|| known.map(|k| k.remediation.clone()));
    Ok(Control {
        id,
        title,
        pattern,
        metric_name,
        namespace,
        filter_name,
        alarm_name,
        scanner_ids: c.scanner_ids,
        rationale,
        severity,
        remediation,
        note: None,
        must_pass: vec![],
    })
}
