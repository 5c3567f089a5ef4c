//! Unit tests of the pattern engine: the AWS vectors, the CIS corpus, canonical forms,
//! coverage, errors, and properties.

use super::*;
use serde_json::{json, Value as Json};

fn p(s: &str) -> Pattern {
    parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn ev(v: Json) -> Event {
    Event::from_value(v)
}

// ------------------------------------------------------------------------------------ vectors

#[test]
fn aws_filter_vectors() {
    let data = include_str!("../../tests/data/filter_vectors.jsonl");
    let mut n = 0;
    let mut failures = Vec::new();
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let v: Json = serde_json::from_str(line).unwrap();
        let id = v["id"].as_str().unwrap();
        let pat = p(v["pattern"].as_str().unwrap());
        let event = match &v["event"] {
            // A string event is a raw (non-JSON) log message.
            Json::String(s) => Event::from_message(s),
            other => Event::from_value(other.clone()),
        };
        let want = v["match"].as_bool().unwrap();
        if pat.matches(&event) != want {
            failures.push(format!("{id}: expected {want} for {}", pat.source()));
        }
        n += 1;
    }
    assert_eq!(n, 94, "vector count");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

// ------------------------------------------------------------------------------------ CIS corpus

/// (family, matching event, near-miss event)
fn cis_family_events() -> Vec<(&'static str, Json, Json)> {
    vec![
        ("unauth12", json!({"errorCode": "Client.UnauthorizedOperation"}), json!({"errorCode": "ThrottlingException"})),
        (
            "unauth13",
            json!({"errorCode": "AccessDenied", "sourceIPAddress": "delivery.logs.amazonaws.com", "eventName": "HeadBucket"}),
            json!({"sourceIPAddress": "delivery.logs.amazonaws.com", "eventName": "HeadBucket"}),
        ),
        (
            "unauth14",
            json!({"errorCode": "AccessDenied", "sourceIPAddress": "198.51.100.7", "eventName": "GetBucketPolicy"}),
            json!({"errorCode": "AccessDenied", "sourceIPAddress": "198.51.100.7", "eventName": "HeadBucket"}),
        ),
        (
            "mfa12",
            json!({"eventName": "ConsoleLogin", "additionalEventData": {"MFAUsed": "No"}}),
            json!({"eventName": "ConsoleLogin", "additionalEventData": {"MFAUsed": "Yes"}}),
        ),
        (
            "mfa14",
            json!({"eventName": "ConsoleLogin", "additionalEventData": {"MFAUsed": "No"}, "userIdentity": {"type": "IAMUser"}, "responseElements": {"ConsoleLogin": "Success"}}),
            json!({"eventName": "ConsoleLogin", "additionalEventData": {"MFAUsed": "No"}, "userIdentity": {"type": "AssumedRole"}, "responseElements": {"ConsoleLogin": "Success"}}),
        ),
        (
            "root",
            json!({"userIdentity": {"type": "Root"}, "eventType": "AwsApiCall"}),
            json!({"userIdentity": {"type": "Root", "invokedBy": "AWS Internal"}, "eventType": "AwsApiCall"}),
        ),
        ("iam", json!({"eventName": "DeleteUserPolicy"}), json!({"eventName": "PutRolePermissionsBoundary"})),
        ("ct", json!({"eventName": "StopLogging"}), json!({"eventName": "DescribeTrails"})),
        (
            "authfail",
            json!({"eventName": "ConsoleLogin", "errorMessage": "Failed authentication"}),
            json!({"eventName": "ConsoleLogin"}),
        ),
        (
            "kms",
            json!({"eventSource": "kms.amazonaws.com", "eventName": "ScheduleKeyDeletion"}),
            json!({"eventSource": "kms.amazonaws.com", "eventName": "EnableKey"}),
        ),
        (
            "s3",
            json!({"eventSource": "s3.amazonaws.com", "eventName": "PutBucketPolicy"}),
            json!({"eventSource": "s3.amazonaws.com", "eventName": "PutObject"}),
        ),
        (
            "config",
            json!({"eventSource": "config.amazonaws.com", "eventName": "StopConfigurationRecorder"}),
            json!({"eventSource": "config.amazonaws.com", "eventName": "DescribeConfigRules"}),
        ),
        ("sg", json!({"eventName": "AuthorizeSecurityGroupIngress"}), json!({"eventName": "ModifySecurityGroupRules"})),
        ("sg5", json!({"eventName": "ModifySecurityGroupRules"}), json!({"eventName": "DescribeSecurityGroupRules"})),
        ("nacl", json!({"eventName": "ReplaceNetworkAclAssociation"}), json!({"eventName": "DescribeNetworkAcls"})),
        ("gw", json!({"eventName": "AttachInternetGateway"}), json!({"eventName": "CreateNatGateway"})),
        ("rt", json!({"eventName": "DisassociateRouteTable"}), json!({"eventName": "DescribeRouteTables"})),
        ("vpc", json!({"eventName": "EnableVpcClassicLink"}), json!({"eventName": "CreateVpcEndpoint"})),
        (
            "org",
            json!({"eventSource": "organizations.amazonaws.com", "eventName": "CreatePolicy"}),
            json!({"eventSource": "iam.amazonaws.com", "eventName": "CreatePolicy"}),
        ),
        ("ssm", json!({"eventName": "StartSession"}), json!({"eventName": "GetParameter"})),
    ]
}

fn cis_corpus() -> Vec<(String, String, String)> {
    include_str!("../../tests/data/pattern/cis_patterns.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut it = l.splitn(3, '\t');
            let id = it.next().unwrap().to_string();
            let fam = it.next().unwrap().to_string();
            let pat = it.next().unwrap().to_string();
            (id, fam, pat)
        })
        .collect()
}

#[test]
fn remembered_coverage_is_the_same_answer_every_time() {
    let pairs = [
        (
            r#"{ $.errorCode = "*UnauthorizedOperation" || $.errorCode = "AccessDenied*" }"#,
            r#"{ ($.errorCode = "*UnauthorizedOperation") }"#,
        ),
        (
            r#"{ $.errorCode = "AccessDenied*" }"#,
            r#"{ $.errorCode = "*UnauthorizedOperation" || $.errorCode = "AccessDenied*" }"#,
        ),
        (r#"{ $.n > 9007199254740993 }"#, r#"{ $.n > 9007199254740992 }"#),
    ];
    for (e, r) in pairs {
        let (e, r) = (p(e), p(r));
        let fresh = covers(&e, &r);
        assert_eq!(covers_remembered(&e, &r), fresh);
        assert_eq!(covers_remembered(&e, &r), fresh, "the second answer comes from the memo");
    }
}

#[test]
fn cis_patterns_match_and_near_miss() {
    let events = cis_family_events();
    let corpus = cis_corpus();
    assert!(corpus.len() > 100);
    let mut canon_by_family: std::collections::BTreeMap<String, (String, String)> = Default::default();
    for (id, fam, text) in &corpus {
        if fam == "invalid" {
            let err = parse(text).expect_err(id);
            // The caret display always has three lines.
            assert_eq!(err.to_string().lines().count(), 3, "{id}: {err}");
            continue;
        }
        let pat = parse(text).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(pat.kind(), PatternKind::Json);
        let (_, good, bad) = events.iter().find(|(f, ..)| f == fam).unwrap_or_else(|| panic!("no events for {fam}"));
        assert!(pat.matches(&ev(good.clone())), "{id} should match {good}");
        assert!(!pat.matches(&ev(bad.clone())), "{id} should not match {bad}");
        // Every published spelling of one control canonicalises to the same text.
        match canon_by_family.get(fam) {
            Some((first_id, canon)) => {
                assert_eq!(&pat.canonical(), canon, "{id} vs {first_id}");
                let first = parse(&corpus.iter().find(|c| &c.0 == first_id).unwrap().2).unwrap();
                assert!(equivalent(&first, &pat).is_equivalent(), "{id} vs {first_id}");
            }
            None => {
                canon_by_family.insert(fam.clone(), (id.clone(), pat.canonical()));
            }
        }
        // Printing and re-parsing the canonical form is a fixed point.
        assert_eq!(parse(&pat.canonical()).unwrap(), pat, "{id}");
        assert_eq!(parse(&pat.canonical()).unwrap().canonical(), pat.canonical(), "{id}");
    }
    assert_eq!(canon_by_family.len(), 20);
}

#[test]
fn published_typos_are_rejected_clearly() {
    let e = parse("{($.eventName=AttachRolePolicy)||($eventName=DetachRolePolicy)}").unwrap_err();
    assert!(matches!(e.kind, ParseErrorKind::SelectorWithoutDot { .. }));
    assert_eq!(e.offset, 34);
    assert!(e.to_string().contains("did you mean `$.eventName`"), "{e}");

    let e = parse("{($.eventNa me=DeleteUserPolicy)}").unwrap_err();
    assert!(matches!(e.kind, ParseErrorKind::ExpectedOperator { .. }), "{e:?}");
    assert!(e.to_string().contains("space inside the property name"), "{e}");
    assert_eq!(e.offset, 12);

    let e = parse("{ ($.eventName = AcceptHandshake\") || ($.eventName = \"AttachPolicy\") }").unwrap_err();
    assert!(matches!(e.kind, ParseErrorKind::Unexpected { .. }), "{e:?}");
}

// ------------------------------------------------------------------------------------ display & canonical form

#[test]
fn cdk_style_display() {
    let a = p(r#"{ $.b = z || $.b = "y" && $.a = x }"#);
    assert_eq!(a.to_string(), r#"{ ($.b = "z") || (($.a = "x") && ($.b = "y")) }"#);
    let b = p(r#"{ $.a = "x" && ($.b = "y" || $.b = "z") }"#);
    assert_eq!(b.to_string(), r#"{ ($.a = "x") && (($.b = "y") || ($.b = "z")) }"#);
    assert_eq!(p("{$.a=b}").to_string(), r#"{ $.a = "b" }"#);
    assert_eq!(p("{ $.a[0].b[*] >= +1e3 }").to_string(), "{ $.a[0].b[*] >= +1e3 }");
    assert_eq!(p("{ $.['cluster.name'] = x }").to_string(), r#"{ $.['cluster.name'] = "x" }"#);
    assert_eq!(p("{ $.['plain'] = x }").to_string(), r#"{ $.plain = "x" }"#);
    assert_eq!(p("{ $.* = %^De[a-z]+% }").to_string(), "{ $.* = %^De[a-z]+% }");
    assert_eq!(
        p("{ $.a is null || $.b Not Exists || $.c IS TRUE || $.d IS FALSE }").to_string(),
        "{ ($.a IS NULL) || ($.b NOT EXISTS) || ($.c IS TRUE) || ($.d IS FALSE) }"
    );
    assert_eq!(p(r#"{ $.a = "q\"uo\\te" }"#).to_string(), r#"{ $.a = "q\"uo\\te" }"#);
    assert_eq!(p("ERROR  \"BAD REQUEST\" -Debug ?x").to_string(), "\"BAD REQUEST\" ERROR -Debug");
    assert_eq!(p("?b ?a ?b").to_string(), "?a ?b");
    assert_eq!(
        p(" [ ip , user,..., status = 4* || status = %5\\d\\d% ] ").to_string(),
        "[ip, user, ..., status = \"4*\" || status = %5\\d\\d%]"
    );
    assert_eq!(p("").to_string(), "");
}

const KMS_SPELLINGS: &[&str] = &[
    "{($.eventSource = kms.amazonaws.com) && (($.eventName=DisableKey)||($.eventName=ScheduleKeyDeletion)) }",
    "{ $.eventSource = \"kms.amazonaws.com\" && ($.eventName = \"ScheduleKeyDeletion\" || $.eventName = \"DisableKey\") }",
    "{(($.eventName=ScheduleKeyDeletion)||(($.eventName=DisableKey)))&&(($.eventSource=kms.amazonaws.com))}",
    "  {\n\t( $.eventName = DisableKey || $.eventName = ScheduleKeyDeletion || $.eventName = DisableKey ) && $.eventSource = kms.amazonaws.com\n}  ",
];

#[test]
fn canonical_form_ignores_spelling() {
    let canon: Vec<String> = KMS_SPELLINGS.iter().map(|s| p(s).canonical()).collect();
    for c in &canon {
        assert_eq!(c, &canon[0]);
    }
    assert_eq!(
        canon[0],
        r#"{ ($.eventSource = "kms.amazonaws.com") && (($.eventName = "DisableKey") || ($.eventName = "ScheduleKeyDeletion")) }"#
    );
    for s in KMS_SPELLINGS {
        let e = equivalent(&p(KMS_SPELLINGS[0]), &p(s));
        assert!(e.is_equivalent(), "{s}: {e:?}");
    }
    // Terms: order, duplicates, and quotes of plain words do not matter.
    assert_eq!(p("b \"a\" b").canonical(), p("a b").canonical());
}

#[test]
fn canonical_form_keeps_meaningful_differences() {
    // number vs quoted string, regex vs literal, interior wildcard, case, != vs NOT EXISTS
    let distinct = [
        "{ $.a = 400 }",
        "{ $.a = \"400\" }",
        "{ $.a = 4e2 }",
        "{ $.a = %x% }",
        "{ $.a = \"%x%\" }",
        "{ $.a = *x* }",
        "{ $.a = X }",
        "{ $.a != x }",
        "{ $.a NOT EXISTS }",
        "{ $.a = E*t }",
    ];
    for (i, a) in distinct.iter().enumerate() {
        for b in &distinct[i + 1..] {
            assert_ne!(p(a).canonical(), p(b).canonical(), "{a} vs {b}");
            assert_ne!(p(a), p(b));
        }
    }
    // Quoting does not disable wildcards.
    assert_eq!(p("{ $.a = \"AccessDenied*\" }").canonical(), p("{ $.a = AccessDenied* }").canonical());
    assert_eq!(p("{ $.a = \"*\" }").canonical(), p("{ $.a = * }").canonical());
    // Unquoted punctuation in a term is out of contract and stays distinct from the quoted form.
    assert_ne!(p("a.b").canonical(), p("\"a.b\"").canonical());
}

// ------------------------------------------------------------------------------------ operators

#[test]
fn every_operator() {
    let e = json!({
        "s": "ConsoleLogin", "n": 3600, "f": 1.5, "t": true, "fa": false, "nul": null,
        "o": {"k": "v"}, "arr": [{"type": "a"}, {"type": "b"}], "ns": "1.09",
        "dotted.key": "yes"
    });
    let cases: &[(&str, bool)] = &[
        ("{ $.s = ConsoleLogin }", true),
        ("{ $.s = consolelogin }", false),
        ("{ $.s != Other }", true),
        ("{ $.s != ConsoleLogin }", false),
        ("{ $.missing != x }", false),
        ("{ $.s = Console* }", true),
        ("{ $.s = *Login }", true),
        ("{ $.s = *sole* }", true),
        ("{ $.s = \"Con*Login\" }", false),
        ("{ $.s = * }", true),
        ("{ $.nul = * }", false),
        ("{ $.o = * }", false),
        ("{ $.o != x }", false),
        ("{ $.n = 3600 }", true),
        ("{ $.n = 3.6e3 }", true),
        ("{ $.n != 3600 }", false),
        ("{ $.n > 3599.5 }", true),
        ("{ $.n < 3600 }", false),
        ("{ $.n <= 3600 }", true),
        ("{ $.n >= 3601 }", false),
        ("{ $.f > 1 }", true),
        ("{ $.ns = 1.09 }", true),
        ("{ $.s > 1 }", false),
        ("{ $.s != 1 }", false),
        ("{ $.n = 36* }", true),
        ("{ $.t IS TRUE }", true),
        ("{ $.fa IS FALSE }", true),
        ("{ $.fa IS TRUE }", false),
        ("{ $.nul IS NULL }", true),
        ("{ $.missing IS NULL }", false),
        ("{ $.nul NOT EXISTS }", false),
        ("{ $.missing NOT EXISTS }", true),
        ("{ $.o.k NOT EXISTS }", false),
        ("{ $.s.k NOT EXISTS }", true),
        ("{ $.arr[1].type = b }", true),
        ("{ $.arr[2].type != b }", false),
        ("{ $.arr[*].type = b }", true),
        ("{ $.arr[*].type != b }", true),
        ("{ $.* = ConsoleLogin }", true),
        ("{ $.['dotted.key'] = yes }", true),
        ("{ $.s = %^Con% }", true),
        ("{ $.s = %^Login% }", false),
        ("{ $.s != %^Login% }", true),
        ("{ $.s = \"%Con%\" }", false),
        ("{ $.s = Other || $.n = 3600 && $.t IS TRUE }", true),
        ("{ ($.s = Other || $.n = 3600) && $.t IS FALSE }", false),
    ];
    let event = ev(e);
    for (pat, want) in cases {
        assert_eq!(p(pat).matches(&event), *want, "{pat}");
    }
}

#[test]
fn term_and_space_delimited_operators() {
    let msg = Event::from_message("ERROR 2024-01-01 user=alice \"request failed\" code=500");
    let cases: &[(&str, bool)] = &[
        ("ERROR", true),
        ("ERROR alice", true),
        ("ERROR bob", false),
        ("\"request failed\"", true),
        ("ERROR -alice", false),
        ("-bob", true),
        ("?bob ?alice", true),
        ("?bob ?carol", false),
        ("?bob ?carol ERROR", true), // ? terms ignored next to a plain term
        ("%code=5\\d\\d%", true),
        ("-%code=4\\d\\d%", true),
        ("\" \"", true),
        ("RR", true),
    ];
    for (pat, want) in cases {
        assert_eq!(p(pat).matches(&msg), *want, "{pat}");
    }
    let line =
        Event::from_message("127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] \"GET /index.html HTTP/1.0\" 404 1534");
    let cases: &[(&str, bool)] = &[
        ("[ip, id, user, ts, request, status, bytes]", true),
        ("[ip, id, user, ts, request, status, bytes, extra]", false),
        ("[ip, id, user=frank, ...]", true),
        ("[ip, id, user!=frank, ...]", false),
        ("[..., status = 404, bytes >= 1534]", true),
        ("[..., status = 404, bytes > 1534]", false),
        ("[..., status < 500 && status >= 400, bytes]", true),
        ("[ip=%^127\\.%, rest]", true),
        ("[ip, id, user, ts, request = \"GET *\", ...]", true),
        ("[ip, , user, ...]", true),
    ];
    for (pat, want) in cases {
        assert_eq!(p(pat).matches(&line), *want, "{pat}");
    }
}

#[test]
fn json_pattern_on_non_json_is_false() {
    assert!(!p("{ $.a = * }").matches(&Event::from_message("a=1")));
    let raw = r#"{"a":"x","b":"has  two spaces"}"#;
    let e = Event::from_json_str(raw).unwrap();
    assert!(p("{ $.a = x }").matches(&e));
    assert!(p("\"has  two\"").matches(&e)); // term patterns see the original text
    assert_eq!(e.text(), raw);
}

#[test]
fn event_text_is_compact_in_key_order() {
    let e = ev(json!({"z": 1, "a": {"b": [1, 2]}}));
    assert_eq!(e.text(), r#"{"z":1,"a":{"b":[1,2]}}"#);
}

// ------------------------------------------------------------------------------------ errors & limits

#[test]
fn errors_and_quotas() {
    use ParseErrorKind as K;
    type Check = fn(&ParseErrorKind) -> bool;
    let cases: &[(&str, Check)] = &[
        ("{ $.a = x", |k| matches!(k, K::MissingCloseBrace)),
        ("[a, b", |k| matches!(k, K::MissingCloseBracket)),
        ("{ ($.a = x }", |k| matches!(k, K::UnclosedParen)),
        ("{ $.a = \"x }", |k| matches!(k, K::UnterminatedString)),
        ("{ $.a = %x }", |k| matches!(k, K::UnterminatedRegex)),
        ("{ $.a = %(x)% }", |k| matches!(k, K::RegexChar { ch: '(' })),
        ("{ $.a = %x!% }", |k| matches!(k, K::RegexChar { ch: '!' })),
        ("%a% %b% %c%", |k| matches!(k, K::TooManyRegexes)),
        ("{ $.a[*].b.* = x }", |k| matches!(k, K::TooManyWildcardsInSelector)),
        ("{ $.a[*] = 1 || $.b[*] = 1 || $.c.* = 1 || $.d[*] = 1 }", |k| matches!(k, K::TooManyWildcardSelectors)),
        ("{ $.a > x }", |k| matches!(k, K::ExpectedNumber { .. })),
        ("{ $.a >= \"5\" }", |k| matches!(k, K::ExpectedNumber { .. })),
        ("{ $.a == x }", |k| matches!(k, K::DoubleEquals)),
        ("{ $.a IS NOT NULL }", |k| matches!(k, K::UnsupportedKeyword { .. })),
        ("{ $.a EXISTS }", |k| matches!(k, K::UnsupportedKeyword { .. })),
        ("{ $.a = }", |k| matches!(k, K::ExpectedValue)),
        ("{ }", |k| matches!(k, K::ExpectedCondition)),
        ("{ a = b }", |k| matches!(k, K::ExpectedSelector)),
        ("{ $.a = x && }", |k| matches!(k, K::ExpectedCondition)),
        ("{ $.a = x ) }", |k| matches!(k, K::Unexpected { .. })),
        ("{ $. = x }", |k| matches!(k, K::ExpectedPropertyName)),
        ("{ $.a[x] = x }", |k| matches!(k, K::BadBracket)),
        ("- x", |k| matches!(k, K::ExpectedTerm)),
        ("\"a\"b", |k| matches!(k, K::MissingSpace)),
        ("[a = 1 && b = 2]", |k| matches!(k, K::SdFieldMismatch { .. })),
        ("[..., a, ...]", |k| matches!(k, K::SdMultipleEllipsis)),
    ];
    for (src, check) in cases {
        let e = parse(src).expect_err(src);
        assert!(check(&e.kind), "{src}: {:?}", e.kind);
        assert!(e.offset <= src.len(), "{src}");
        assert_eq!(e.to_string().lines().count(), 3, "{src}: {e}");
    }
    let long = format!("{{ $.a = \"{}\" }}", "x".repeat(1100));
    let e = parse(&long).unwrap_err();
    assert!(matches!(e.kind, K::TooLong { chars: 1112 }), "{:?}", e.kind);
    let ok = format!("{{ $.a = \"{}\" }}", "x".repeat(1024 - 12));
    assert_eq!(ok.chars().count(), 1024);
    assert!(parse(&ok).is_ok());
    // Two regexes are fine, three wildcard selectors are fine.
    assert!(parse("{ $.a = %x% && $.b = %y% }").is_ok());
    assert!(parse("{ $.a[*] = 1 || $.b[*] = 1 || $.c.* = 1 }").is_ok());
}

#[test]
fn caret_points_at_the_offending_character() {
    let e = parse("{ $.a = x && $.b ~ y }").unwrap_err();
    let shown = e.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines[1], "  { $.a = x && $.b ~ y }");
    assert_eq!(lines[2].find('^').unwrap(), lines[1].find('~').unwrap(), "{shown}");
    // Long patterns are windowed but the caret still lines up.
    let mut long = String::from("{ ");
    for i in 0..30 {
        long.push_str(&format!("($.eventName = Name{i}) || "));
    }
    long.push_str("($.x ~ y) }");
    let e = parse(&long).unwrap_err();
    let shown = e.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    let caret = lines[2].find('^').unwrap();
    assert_eq!(&lines[1][caret..caret + 1], "~", "{shown}");
}

// ------------------------------------------------------------------------------------ covers

fn corpus_pattern(id: &str) -> Pattern {
    let c = cis_corpus();
    p(&c.iter().find(|c| c.0 == id).unwrap_or_else(|| panic!("{id}")).2)
}

fn assert_not_covered(existing: &Pattern, required: &Pattern) -> Json {
    match covers(existing, required) {
        Coverage::NotCovered { witness: Some(w), .. } => {
            let e = ev(w.clone());
            assert!(required.matches(&e) && !existing.matches(&e), "witness {w} not confirmed");
            w
        }
        other => panic!("expected NotCovered for {existing} vs {required}, got {other:?}"),
    }
}

#[test]
fn worked_results_unauthorized() {
    let u12 = corpus_pattern("sh-CloudWatch.2");
    let u14 = corpus_pattern("v3.0.0-4.1");
    let paren = p(
        r#"{(($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*")) && (($.sourceIPAddress!="delivery.logs.amazonaws.com") && ($.eventName!="HeadBucket"))}"#,
    );
    let allor = corpus_pattern("v1.4.0-4.1");
    assert!(covers(&u12, &u14).is_covered());
    let w = assert_not_covered(&u14, &u12);
    assert!(w["errorCode"].as_str().unwrap().starts_with("AccessDenied"), "{w}");
    assert!(covers(&u14, &paren).is_covered());
    assert_not_covered(&paren, &u14);
    for other in [&u12, &u14, &paren] {
        assert!(covers(&allor, other).is_covered(), "{other}");
        assert_not_covered(other, &allor);
    }
    assert_eq!(equivalent(&u12, &u14).relation(), Relation::ACoversB);
    assert_eq!(equivalent(&paren, &u14).relation(), Relation::BCoversA);
}

const VPC_NAMES: &[&str] = &[
    "CreateVpc",
    "DeleteVpc",
    "ModifyVpcAttribute",
    "AcceptVpcPeeringConnection",
    "CreateVpcPeeringConnection",
    "DeleteVpcPeeringConnection",
    "RejectVpcPeeringConnection",
    "AttachClassicLinkVpc",
    "DetachClassicLinkVpc",
    "DisableVpcClassicLink",
    "EnableVpcClassicLink",
];

fn name_list(names: &[&str]) -> String {
    names.iter().map(|n| format!("($.eventName = {n})")).collect::<Vec<_>>().join(" || ")
}

#[test]
fn worked_results_event_name_lists() {
    let vpc = corpus_pattern("sh-CloudWatch.14");
    // Ten of the eleven names: not covered, the witness is the missing name.
    let ten = p(&format!("{{ {} }}", name_list(&VPC_NAMES[..10])));
    let w = assert_not_covered(&ten, &vpc);
    assert_eq!(w, json!({"eventName": "EnableVpcClassicLink"}));
    assert!(covers(&vpc, &ten).is_covered());
    assert_eq!(equivalent(&vpc, &ten).relation(), Relation::ACoversB);
    // A superset covers.
    let more = p(&format!("{{ {} || ($.eventName = CreateNatGateway) }}", name_list(VPC_NAMES)));
    assert!(covers(&more, &vpc).is_covered());
    // An extra eventSource guard is (logically) not covering.
    let guarded = p(&format!("{{ ($.eventSource = ec2.amazonaws.com) && ({}) }}", name_list(VPC_NAMES)));
    assert_not_covered(&guarded, &vpc);
    assert!(covers(&vpc, &guarded).is_covered());
    // Prefix wildcards cover (and are broader).
    let wild = p("{ $.eventName = CreateVpc* || $.eventName = DeleteVpc* || $.eventName = ModifyVpc* || $.eventName = *VpcPeeringConnection || $.eventName = *ClassicLink* }");
    assert!(covers(&wild, &vpc).is_covered());
    assert_not_covered(&vpc, &wild);
    // `= *` covers any equality on the field.
    assert!(covers(&p("{ $.eventName = * }"), &vpc).is_covered());
    // Organizations: the unguarded list covers the guarded one, not vice versa.
    let org = corpus_pattern("v1.4.0-4.15");
    let names = [
        "AcceptHandshake",
        "AttachPolicy",
        "CreateAccount",
        "CreateOrganizationalUnit",
        "CreatePolicy",
        "DeclineHandshake",
        "DeleteOrganization",
        "DeleteOrganizationalUnit",
        "DeletePolicy",
        "DetachPolicy",
        "DisablePolicyType",
        "EnablePolicyType",
        "InviteAccountToOrganization",
        "LeaveOrganization",
        "MoveAccount",
        "RemoveAccountFromOrganization",
        "UpdatePolicy",
        "UpdateOrganizationalUnit",
    ];
    let unguarded = p(&format!("{{ {} }}", name_list(&names)));
    assert!(covers(&unguarded, &org).is_covered());
    assert_not_covered(&org, &unguarded);
    // The eventSource-only filter of some tools covers it too.
    assert!(covers(&p("{ $.eventSource = organizations.amazonaws.com }"), &org).is_covered());
}

#[test]
fn worked_results_mfa_and_root() {
    let mfa12 = corpus_pattern("v1.2.0-3.2");
    let mfa14 = corpus_pattern("sh-CloudWatch.3");
    assert!(covers(&mfa12, &mfa14).is_covered());
    assert_not_covered(&mfa14, &mfa12);
    // Neither catches a ConsoleLogin lacking MFAUsed; the NOT EXISTS variant does, and covers.
    let absent = ev(json!({"eventName": "ConsoleLogin", "userIdentity": {"type": "IAMUser"}}));
    assert!(!mfa12.matches(&absent));
    let fixed = p("{ $.eventName = ConsoleLogin && ($.additionalEventData.MFAUsed != Yes || $.additionalEventData.MFAUsed NOT EXISTS) }");
    assert!(fixed.matches(&absent));
    assert!(covers(&fixed, &mfa12).is_covered());
    assert_not_covered(&mfa12, &fixed);

    let root_sh = corpus_pattern("sh-CloudWatch.1");
    let root_v7 = corpus_pattern("v7.0-5.3");
    assert!(equivalent(&root_sh, &root_v7).is_equivalent());
    // Dropping the invokedBy guard broadens; adding a condition narrows.
    let broad = p(r#"{ $.userIdentity.type = "Root" && $.eventType != "AwsServiceEvent" }"#);
    assert!(covers(&broad, &root_sh).is_covered());
    let w = assert_not_covered(&root_sh, &broad);
    assert!(w["userIdentity"]["invokedBy"].is_string(), "{w}");
}

#[test]
fn or_where_and_belongs_is_detected() {
    let kms = p(KMS_SPELLINGS[0]);
    let wrong = p(
        "{ ($.eventSource = kms.amazonaws.com) || ($.eventName = DisableKey) || ($.eventName = ScheduleKeyDeletion) }",
    );
    let e = equivalent(&wrong, &kms);
    assert_eq!(e.relation(), Relation::ACoversB);
    let w = e.b_covers_a.witness().unwrap();
    assert!(wrong.matches(&ev(w.clone())) && !kms.matches(&ev(w.clone())));
}

#[test]
fn coverage_edge_cases() {
    // Unsatisfiable baseline disjuncts are vacuously covered.
    let unsat = p("{ $.a = x && $.a = y }");
    assert!(covers(&p("{ $.b = z }"), &unsat).is_covered());
    // Different kinds are not compared.
    assert!(matches!(covers(&p("StopLogging"), &p("{ $.eventName = StopLogging }")), Coverage::Unknown { .. }));
    // Empty pattern covers everything.
    assert!(covers(&p(""), &p("{ $.a = 1 }")).is_covered());
    // Regex: identical only; otherwise not covered if a witness is found, else unknown.
    assert!(covers(&p("{ $.a = %^x% || $.b = 1 }"), &p("{ $.a = %^x% }")).is_covered());
    assert!(matches!(covers(&p("{ $.a = %^x% }"), &p("{ $.a = %^x[a-z]% }")), Coverage::Unknown { .. }));
    // Numeric intervals.
    assert!(covers(&p("{ $.n > 5 }"), &p("{ $.n >= 6 }")).is_covered());
    assert!(covers(&p("{ $.n = * }"), &p("{ $.n >= 6 }")).is_covered());
    assert_not_covered(&p("{ $.n > 6 }"), &p("{ $.n >= 6 }"));
    // NOT EXISTS in the existing filter is falsified by the witness when needed.
    assert_not_covered(&p("{ $.b NOT EXISTS }"), &p("{ $.a = x }"));
    // IS NULL does not imply `= *`.
    assert!(!covers(&p("{ $.a = * }"), &p("{ $.a IS NULL }")).is_covered());
    // Terms.
    assert!(covers(&p("Stop"), &p("StopLogging")).is_covered());
    assert!(covers(&p("?StopLogging ?DeleteTrail"), &p("DeleteTrail")).is_covered());
    assert!(covers(&p("?StopLogging ?DeleteTrail ?CreateTrail"), &p("?StopLogging ?DeleteTrail")).is_covered());
    let w = match covers(&p("?StopLogging"), &p("?StopLogging ?DeleteTrail")) {
        Coverage::NotCovered { witness: Some(w), .. } => w,
        other => panic!("{other:?}"),
    };
    assert_eq!(w, json!({"message": "DeleteTrail"}));
    assert!(covers(&p("ERROR -Debug"), &p("ERROR Fatal -Debug")).is_covered());
    assert!(!covers(&p("ERROR -Debug"), &p("ERROR")).is_covered());
}

#[test]
fn needed_fields() {
    let vpc = corpus_pattern("sh-CloudWatch.1");
    assert_eq!(vpc.needed_fields().unwrap(), ["eventType", "userIdentity"]);
    assert_eq!(p("{ $.* = x }").needed_fields(), None);
    assert_eq!(p("x").needed_fields(), None);
}

#[test]
fn needed_paths() {
    let root = p(
        r#"{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }"#,
    );
    let want: Vec<Vec<&str>> = vec![vec!["eventType"], vec!["userIdentity", "invokedBy"], vec!["userIdentity", "type"]];
    assert_eq!(root.needed_paths().unwrap(), want);
    // A path stops at the first index or wildcard: everything below may be read.
    let want: Vec<Vec<&str>> = vec![vec!["a", "b"], vec!["c"]];
    assert_eq!(p("{ $.a.b[0].c = 1 || $.c.* = 2 }").needed_paths().unwrap(), want);
    assert_eq!(p("{ $[0].a = x }").needed_paths(), None);
    assert_eq!(p("x").needed_paths(), None);
}

#[test]
fn baseline_against_many_filters_is_fast() {
    let corpus = cis_corpus();
    let pats: Vec<Pattern> = corpus.iter().filter(|c| c.1 != "invalid").map(|c| p(&c.2)).collect();
    let baseline: Vec<&Pattern> = pats.iter().take(15).collect();
    let existing: Vec<Pattern> = (0..200).map(|i| pats[i % pats.len()].clone()).collect();
    let t = std::time::Instant::now();
    let mut covered = 0;
    for b in &baseline {
        for e in &existing {
            if covers(e, b).is_covered() {
                covered += 1;
            }
        }
    }
    assert!(covered > 0);
    // Generous bound for unoptimised test builds; the bench measures the real figure.
    assert!(t.elapsed() < std::time::Duration::from_secs(10), "{:?}", t.elapsed());
}

/// Issue #11: AWS documents only `" "` as the match-everything phrase; other whitespace was
/// read as match-all too, and such a filter then "covered" every baseline.
#[test]
fn r11_only_the_single_space_phrase_matches_everything() {
    let plain = Event::from_message("StopLogging by alice");
    for blank in ["\" \"", "\"\""] {
        let pat = p(blank);
        assert!(pat.matches(&plain), "{blank}");
        assert_eq!(pat.canonical(), "", "{blank}");
        assert!(covers(&pat, &p("StopLogging")).is_covered(), "{blank}");
    }
    // `?" "` makes the optional group match everything; `-" "` excludes everything.
    assert!(covers(&p("?\" \" ?x"), &p("StopLogging")).is_covered());
    assert!(!p("-\" \"").matches(&plain));
    for phrase in ["\"\t\"", "\"\u{a0}\"", "\"  \""] {
        let pat = p(phrase);
        let text = &phrase[1..phrase.len() - 1];
        assert_ne!(pat.canonical(), "", "{phrase:?} must stay in the canonical form");
        assert!(!pat.matches(&plain), "{phrase:?} matched a message without it");
        assert!(pat.matches(&Event::from_message(&format!("a{text}b"))), "{phrase:?}");
        // It covers nothing that does not contain it ...
        match covers(&pat, &p("StopLogging")) {
            Coverage::NotCovered { witness: Some(w), .. } => assert_eq!(w, json!({"message": "StopLogging"})),
            other => panic!("{phrase:?}: {other:?}"),
        }
        // ... and as a required term it is not dropped.
        assert!(!covers(&p(&format!("{phrase} StopLogging")), &p("StopLogging")).is_covered(), "{phrase:?}");
        assert!(covers(&p("StopLogging"), &p(&format!("{phrase} StopLogging"))).is_covered(), "{phrase:?}");
    }
}

// ------------------------------------------------------------------------------------ work budget

fn pathological_pair() -> (Pattern, Pattern) {
    let lines: Vec<&str> =
        include_str!("../../tests/data/pattern/pathological.txt").lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), 2);
    (p(lines[0]), p(lines[1]))
}

/// `(sel0 = v0 || sel0 = w0) && ... ` over `n` selectors: 2^n disjuncts.
fn product(n: usize, v: &str, w: &str) -> String {
    (0..n).map(|i| format!("($.g{i:02} = {v} || $.g{i:02} = {w})")).collect::<Vec<_>>().join(" && ")
}

/// Issue #11: two OR-heavy patterns kept `diff` busy for minutes. The work is now counted and
/// bounded: past the budget the answer is `unknown`, saying why, on every machine alike.
#[test]
fn r11_covers_has_a_work_budget() {
    let (a, b) = pathological_pair();
    assert!(a.source().len() > 500 && b.source().len() > 500);
    let e = equivalent(&a, &b);
    let Coverage::Unknown { reason } = &e.a_covers_b else { panic!("{:?}", e.a_covers_b) };
    assert!(reason.contains("work budget") && reason.contains("4096 disjuncts"), "{reason}");
    // The other direction has a witness right away.
    assert!(matches!(e.b_covers_a, Coverage::NotCovered { witness: Some(_), .. }), "{:?}", e.b_covers_a);
    assert_eq!(e.relation(), Relation::Unknown);
    // Given the work it needs, the same question ends in the ordinary `unknown`.
    match covers_with_budget(&a, &b, 100 * WORK_BUDGET) {
        Coverage::Unknown { reason } => assert!(reason.contains("no counterexample"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(equivalent(&a, &b), e, "deterministic");
    // A budget is a budget: even a small comparison gives up when it is too small.
    let (u12, u14) = (corpus_pattern("sh-CloudWatch.2"), corpus_pattern("v3.0.0-4.1"));
    assert!(matches!(covers_with_budget(&u14, &u12, 3), Coverage::Unknown { .. }));
    assert!(matches!(covers_with_budget(&u14, &u12, WORK_BUDGET), Coverage::NotCovered { .. }));
    // Identical patterns need no work.
    assert!(covers_with_budget(&a, &a, 0).is_covered());
}

/// Large products are decided within the budget: the covering pattern is never expanded (its
/// formula is evaluated on each disjunct's implied atoms), so the work is linear in its size.
#[test]
fn large_products_are_decided() {
    let (exact, prefix) =
        (p(&format!("{{ {} }}", product(12, "v1", "p2"))), p(&format!("{{ {} }}", product(12, "v*", "p*"))));
    assert_eq!(equivalent(&prefix, &exact).relation(), Relation::ACoversB);
    // ... with a differing tail: every disjunct agrees up to the last group.
    let tail = |v: &str, w: &str| p(&format!("{{ {} && ($.z = {v} || $.z = {w}) }}", product(11, "*", "p*")));
    let (a, b) = (tail("nope1", "nope2"), tail("w1", "w2"));
    assert_eq!(equivalent(&a, &b).relation(), Relation::Neither);
    assert_not_covered(&a, &b);
    // A covering pattern past the DNF cap is fine; a covered one is not expanded.
    let huge = p(&format!("{{ {} }}", product(13, "*", "x")));
    let small = p("{ $.g00 = a && $.g01 = b && $.g02 = c && $.g03 = d && $.g04 = e && $.g05 = f && $.g06 = g && $.g07 = h && $.g08 = i && $.g09 = j && $.g10 = k && $.g11 = l && $.g12 = m }");
    assert!(covers(&huge, &small).is_covered());
    match covers(&small, &huge) {
        Coverage::Unknown { reason } => assert!(reason.contains("8192 disjuncts"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

// ------------------------------------------------------------------------------------ numbers past 2^53

/// Issue #11: coverage compared numeric literals as f64 while evaluation compares integers
/// exactly, so `> 9007199254740993` and `> 9007199254740992` were "equivalent" although
/// `{"n":9007199254740993}` tells them apart.
#[test]
fn r11_integer_literals_compare_exactly_in_coverage() {
    let diff = |a: &str, b: &str| {
        let (a, b) = (p(&format!("{{ $.n {a} }}")), p(&format!("{{ $.n {b} }}")));
        let e = equivalent(&a, &b);
        for (c, covering, covered) in [(&e.a_covers_b, &a, &b), (&e.b_covers_a, &b, &a)] {
            if let Some(w) = c.witness() {
                let w = ev(w.clone());
                assert!(covered.matches(&w) && !covering.matches(&w), "{covering} vs {covered}: {c:?}");
            }
        }
        e
    };
    let witness_n = |c: &Coverage| c.witness().map(|w| w["n"].clone());
    let e = diff("> 9007199254740993", "> 9007199254740992");
    assert_eq!(e.relation(), Relation::BCoversA);
    assert_eq!(witness_n(&e.a_covers_b), Some(json!(9007199254740993u64)));
    let e = diff(">= 9007199254740993", ">= 9007199254740992");
    assert_eq!(e.relation(), Relation::BCoversA);
    assert_eq!(witness_n(&e.a_covers_b), Some(json!(9007199254740992u64)));
    assert_eq!(diff("< 9007199254740993", "< 9007199254740992").relation(), Relation::ACoversB);
    assert_eq!(diff("<= 9007199254740993", "<= 9007199254740992").relation(), Relation::ACoversB);
    // A `.0` literal compares the field as an f64, where 2^53 + 1 rounds to 2^53.
    let e = diff("> 9007199254740992.0", "> 9007199254740992");
    assert_eq!(e.relation(), Relation::BCoversA);
    assert_eq!(witness_n(&e.a_covers_b), Some(json!(9007199254740993u64)));
    assert_eq!(diff("<= 9007199254740992.0", "<= 9007199254740992").relation(), Relation::ACoversB);
    // ... and where no number tells them apart, they are equivalent.
    assert!(diff(">= 9007199254740992.0", ">= 9007199254740992").is_equivalent());
    assert!(diff("> 9007199254740993", "> 9007199254740992.0").is_equivalent());
    // Below 2^53 nothing changed.
    assert!(covers(&p("{ $.n > 5 }"), &p("{ $.n >= 6 }")).is_covered());
    assert_not_covered(&p("{ $.n >= 6 }"), &p("{ $.n > 5 }"));
    assert!(covers(&p("{ $.n >= 5.5 }"), &p("{ $.n > 5.5 }")).is_covered());
}

/// Literals around 2^53 and 2^54 (where f64 steps by 2 and 4), as integers, `.0` forms and
/// exponents, and a few ordinary ones.
const NUMBER_LITERALS: &[&str] = &[
    "9007199254740991",
    "9007199254740992",
    "9007199254740993",
    "9007199254740994",
    "9007199254740992.0",
    "9007199254740993.0",
    "9.007199254740993e15",
    "18014398509481985",
    "18014398509481986",
    "18014398509481986.0",
    "-9007199254740993",
    "-9007199254740992.0",
    "5",
    "5.5",
    "1e3",
    "1000",
];

/// Field values near the literals: integers as JSON numbers and as numeric strings, and the
/// f64 neighbours as JSON floats.
fn number_fields() -> Vec<Json> {
    let mut out = Vec::new();
    for base in [1i128 << 53, 1 << 54, -(1 << 53), 5, 1000] {
        for d in -5..=5 {
            let i = base + d;
            out.push(serde_json::from_str::<Json>(&i.to_string()).unwrap());
            out.push(json!(i.to_string()));
            let x = i as f64;
            for f in [x, x.next_up(), x.next_down(), x + 0.5] {
                out.extend(serde_json::Number::from_f64(f).map(Json::Number));
            }
        }
    }
    out.push(json!("9007199254740993.0"));
    out.push(json!("1e3"));
    out
}

#[test]
fn r11_numeric_coverage_agrees_with_evaluation() {
    let events: Vec<(Json, Event)> = number_fields().into_iter().map(|f| (f.clone(), ev(json!({ "n": f })))).collect();
    let mut pats = Vec::new();
    for op in ["<", "<=", ">", ">=", "=", "!="] {
        for lit in NUMBER_LITERALS {
            pats.push(p(&format!("{{ $.n {op} {lit} }}")));
        }
    }
    let mut decided = 0;
    for a in &pats {
        for b in &pats {
            match covers(a, b) {
                Coverage::Covers => {
                    decided += 1;
                    for (f, e) in &events {
                        assert!(!b.matches(e) || a.matches(e), "{a} claimed to cover {b}, but n = {f} disagrees");
                    }
                }
                Coverage::NotCovered { witness: Some(w), .. } => {
                    decided += 1;
                    let e = ev(w.clone());
                    assert!(b.matches(&e) && !a.matches(&e), "witness {w} for {a} vs {b}");
                }
                Coverage::NotCovered { witness: None, .. } => panic!("{a} vs {b}: no witness"),
                Coverage::Unknown { reason } => {
                    // Only the `=`/`!=` pairs are left open ([U] §11.1, see `implies`).
                    let text = format!("{a}{b}");
                    assert!(text.contains(" = ") || text.contains("!="), "{a} vs {b}: {reason}");
                }
            }
        }
    }
    assert!(decided > pats.len() * pats.len() / 2, "{decided}");
}

// ------------------------------------------------------------------------------------ properties

mod props {
    use super::*;
    use proptest::prelude::*;

    const TOKENS: &[&str] = &[
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        "$",
        "$.",
        "$.a",
        "$.b[0]",
        "$.*",
        "$.c[*]",
        "$.['k.k']",
        "$eventName",
        "=",
        "!=",
        "<",
        ">",
        "<=",
        ">=",
        "==",
        "&&",
        "||",
        "&",
        "|",
        "\"x\"",
        "\"a b\"",
        "\"",
        "\\",
        "*",
        "x*",
        "*y",
        "%ab%",
        "%",
        "%(%",
        "1",
        "-2.5e3",
        "+",
        ".",
        "IS",
        "NULL",
        "NOT",
        "EXISTS",
        "TRUE",
        "false",
        ",",
        "...",
        "?",
        "-",
        " ",
        "  ",
        "\t",
        "\n",
        "w1",
        "ERROR",
        "'",
        "é",
        "😀",
        "0",
        "e",
        "[*]",
        "[9]",
    ];

    fn tokens() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(TOKENS), 0..40).prop_map(|v| v.concat())
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9_.]{1,8}".prop_map(|s| s),
            "[ -~&&[^\"\\\\]]{0,8}".prop_map(|s| format!("\"{s}\"")),
            "[A-Za-z]{1,5}".prop_map(|s| format!("%^{s}%")),
            "[A-Za-z]{1,5}".prop_map(|s| format!("{s}*")),
            "[A-Za-z]{1,5}".prop_map(|s| format!("\"*{s}\"")),
            (-1000i32..1000).prop_map(|n| n.to_string()),
            Just("*".to_string()),
        ]
    }

    fn atom() -> impl Strategy<Value = String> {
        let sel = prop::sample::select(vec!["$.a", "$.b.c", "$.d[0]", "$.e[*].f", "$.['x.y']", "$.g-h"]);
        prop_oneof![
            (sel.clone(), prop::sample::select(vec!["=", "!="]), value()).prop_map(|(s, o, v)| format!("{s} {o} {v}")),
            (sel.clone(), prop::sample::select(vec!["<", ">", "<=", ">="]), -50i32..50)
                .prop_map(|(s, o, n)| format!("{s}{o}{n}")),
            (sel, prop::sample::select(vec!["IS NULL", "IS TRUE", "IS FALSE", "NOT EXISTS"]))
                .prop_map(|(s, k)| format!("{s} {k}")),
        ]
    }

    fn json_expr() -> impl Strategy<Value = String> {
        atom().prop_recursive(4, 24, 4, |inner| {
            (inner.clone(), prop::sample::select(vec![" && ", "||", " || ", "&&"]), inner, any::<bool>()).prop_map(
                |(a, op, b, paren)| {
                    if paren {
                        format!("({a}{op}{b})")
                    } else {
                        format!("{a}{op}{b}")
                    }
                },
            )
        })
    }

    fn term_pattern() -> impl Strategy<Value = String> {
        let term = prop_oneof![
            "[A-Za-z0-9_]{1,6}".prop_map(|s| s),
            "[A-Za-z ]{0,6}".prop_map(|s| format!("\"{s}\"")),
            "[a-z]{1,4}".prop_map(|s| format!("%{s}%")),
        ];
        let prefixed = (prop::sample::select(vec!["", "-", "?"]), term).prop_map(|(p, t)| format!("{p}{t}"));
        prop::collection::vec(prefixed, 0..5).prop_map(|v| v.join(" "))
    }

    fn sd_pattern() -> impl Strategy<Value = String> {
        let entry = prop_oneof![
            Just("...".to_string()),
            Just(String::new()),
            "[a-z][a-z0-9_]{0,4}".prop_map(|s| s),
            ("[a-z]{1,3}", prop::sample::select(vec!["=", "!="]), value()).prop_map(|(n, o, v)| format!("{n} {o} {v}")),
            ("[a-z]{1,3}", -9i32..9, -9i32..9).prop_map(|(n, a, b)| format!("{n} > {a} && {n} < {b} || {n} = 0")),
        ];
        prop::collection::vec(entry, 1..5).prop_map(|v| format!("[{}]", v.join(", ")))
    }

    fn roundtrip(src: &str) {
        let Ok(a) = parse(src) else { return };
        let printed = a.canonical();
        let b = parse(&printed).unwrap_or_else(|e| panic!("re-parse of `{printed}` (from `{src}`): {e}"));
        assert_eq!(a, b, "`{src}` -> `{printed}`");
        assert_eq!(b.canonical(), printed);
        assert!(equivalent(&a, &b).is_equivalent());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn never_panics_on_arbitrary_strings(s in "\\PC{0,300}") {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_on_arbitrary_unicode(s in any::<String>()) {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_on_pattern_tokens(s in tokens()) {
            if let Ok(pat) = parse(&s) {
                let _ = pat.matches(&Event::from_value(serde_json::json!({"a": "x", "b": {"c": 1}})));
                roundtrip(&s);
            } else if let Err(e) = parse(&s) {
                prop_assert_eq!(e.to_string().lines().count(), 3);
            }
        }

        #[test]
        fn json_roundtrip(e in json_expr(), ws in prop::sample::select(vec!["", " ", "\n  "])) {
            roundtrip(&format!("{{{ws}{e}{ws}}}"));
        }

        #[test]
        fn term_roundtrip(t in term_pattern()) {
            roundtrip(&t);
        }

        #[test]
        fn sd_roundtrip(t in sd_pattern()) {
            roundtrip(&t);
        }

        #[test]
        fn one_term_matches_any_message_containing_it(
            term in "[A-Za-z0-9_]{1,12}",
            pre in "\\PC{0,30}",
            post in "\\PC{0,30}",
        ) {
            let msg = format!("{pre}{term}{post}");
            prop_assert!(p(&term).matches(&Event::from_message(&msg)));
            let quoted = format!("\"{term}\"");
            prop_assert!(p(&quoted).matches(&Event::from_message(&msg)));
        }

        #[test]
        fn one_phrase_matches_any_message_containing_it(
            phrase in "[A-Za-z0-9_][A-Za-z0-9_ .:/-]{0,12}",
            pre in "[ -~]{0,20}",
            post in "[ -~]{0,20}",
        ) {
            let msg = format!("{pre}{phrase}{post}");
            let pat = p(&format!("\"{}\"", phrase));
            prop_assert!(pat.matches(&Event::from_message(&msg)));
        }

        #[test]
        fn self_coverage(e in json_expr()) {
            if let Ok(a) = parse(&format!("{{ {e} }}")) {
                prop_assert!(covers(&a, &a).is_covered());
            }
        }

        /// Soundness smoke test: when `covers` says Covers, no sampled event contradicts it.
        #[test]
        fn covers_is_sound_on_samples(a in json_expr(), b in json_expr(), docs in prop::collection::vec(sample_doc(), 8)) {
            let (Ok(a), Ok(b)) = (parse(&format!("{{{a}}}")), parse(&format!("{{{b}}}"))) else { return Ok(()) };
            match covers(&a, &b) {
                Coverage::Covers => {
                    for d in docs {
                        let e = Event::from_value(d.clone());
                        prop_assert!(!b.matches(&e) || a.matches(&e), "{} claimed to cover {} but {} disagrees", a, b, d);
                    }
                }
                Coverage::NotCovered { witness: Some(w), .. } => {
                    let e = Event::from_value(w);
                    prop_assert!(b.matches(&e) && !a.matches(&e));
                }
                _ => {}
            }
        }
    }

    /// Numbers around 2^53 and 2^54 (where f64 steps by 2 and 4), their neighbours and their
    /// `.0` and exponent spellings, and some small ones.
    fn num_literal() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => (prop::sample::select(vec![1i128 << 53, 1 << 54, -(1 << 53)]), -3i128..=3, 0u8..3).prop_map(
                |(base, d, form)| {
                    let i = base + d;
                    match form {
                        0 => i.to_string(),
                        1 => format!("{i}.0"),
                        _ => format!("{i}e0"),
                    }
                }
            ),
            1 => (-20i32..20).prop_map(|n| n.to_string()),
            1 => prop::sample::select(vec!["5.5", "-0", "+7", "1e3"]).prop_map(String::from),
        ]
    }

    fn num_atom() -> impl Strategy<Value = String> {
        let sel = prop::sample::select(vec!["$.n", "$.m"]);
        prop_oneof![
            4 => (sel.clone(), prop::sample::select(vec!["<", ">", "<=", ">=", "=", "!="]), num_literal())
                .prop_map(|(s, o, v)| format!("{s} {o} {v}")),
            1 => (sel, prop::sample::select(vec!["= *", "NOT EXISTS", "IS NULL", "= \"x\""]))
                .prop_map(|(s, t)| format!("{s} {t}")),
        ]
    }

    fn num_expr() -> impl Strategy<Value = String> {
        num_atom().prop_recursive(3, 12, 3, |inner| {
            (inner.clone(), prop::sample::select(vec![" && ", " || "]), inner)
                .prop_map(|(a, op, b)| format!("({a}){op}({b})"))
        })
    }

    /// A field value near the literals: integers as JSON numbers and numeric strings, f64
    /// neighbours as JSON floats, and the non-numbers.
    fn num_value() -> impl Strategy<Value = Json> {
        let int =
            (prop::sample::select(vec![1i128 << 53, 1 << 54, -(1 << 53), 0, 5]), -4i128..=4).prop_map(|(b, d)| b + d);
        prop_oneof![
            3 => int.clone().prop_map(|i| serde_json::from_str::<Json>(&i.to_string()).unwrap()),
            1 => int.clone().prop_map(|i| Json::from(i.to_string())),
            2 => (int, prop::sample::select(vec![0u8, 1, 2])).prop_map(|(i, k)| {
                let x = i as f64;
                let x = match k { 0 => x, 1 => x.next_up(), _ => x.next_down() };
                Json::Number(serde_json::Number::from_f64(x).unwrap())
            }),
            1 => prop::sample::select(vec![Json::Null, Json::from("x"), Json::from(5.5), Json::Bool(true)]),
        ]
    }

    /// Two patterns: independent, or the second a copy of the first with one number literal
    /// moved by a few units or respelt (`.0`, exponent), which is where f64 and exact integer
    /// comparison part ways.
    fn num_pair() -> impl Strategy<Value = (String, String)> {
        prop_oneof![
            (num_expr(), num_expr()),
            (num_expr(), any::<prop::sample::Index>(), -2i128..=2, 0u8..3).prop_map(|(a, k, d, form)| {
                let b = nudge(&a, k, d, form);
                (a, b)
            }),
        ]
    }

    fn nudge(src: &str, k: prop::sample::Index, d: i128, form: u8) -> String {
        let lit = regex::Regex::new(r"([<>=]\s*)([+-]?[0-9][0-9.e]*)").unwrap();
        let n = lit.find_iter(src).count();
        if n == 0 {
            return src.to_string();
        }
        let target = k.index(n);
        let mut i = 0;
        lit.replace_all(src, |c: &regex::Captures<'_>| {
            i += 1;
            if i - 1 != target {
                return c[0].to_string();
            }
            let x: f64 = c[2].parse().unwrap_or(0.0);
            let v = c[2].parse::<i128>().unwrap_or(x as i128) + d;
            let text = match form {
                0 => v.to_string(),
                1 => format!("{v}.0"),
                _ => format!("{v}e0"),
            };
            format!("{}{text}", &c[1])
        })
        .into_owned()
    }

    /// Events at the boundaries of the patterns' number literals: each literal's integer
    /// neighbours (JSON integers and numeric strings) and f64 neighbours (JSON floats), in `n`
    /// and in `m`. Where two literals differ only past 2^53, these are the events that tell
    /// them apart.
    fn boundary_docs(sources: &[&str]) -> Vec<Json> {
        let lit = regex::Regex::new(r"[<>=]\s*([+-]?[0-9][0-9.e]*)").unwrap();
        let mut values = Vec::new();
        for src in sources {
            for c in lit.captures_iter(src) {
                let text = &c[1];
                let Ok(x) = text.parse::<f64>() else { continue };
                let base = text.parse::<i128>().unwrap_or(x as i128);
                for d in -2..=2 {
                    values.push(serde_json::from_str::<Json>(&(base + d).to_string()).unwrap());
                    values.push(Json::from((base + d).to_string()));
                }
                for f in [x, x.next_up(), x.next_down(), x.next_up().next_up(), x.next_down().next_down()] {
                    values.extend(serde_json::Number::from_f64(f).map(Json::Number));
                }
            }
        }
        values.iter().flat_map(|v| [json!({ "n": v }), json!({ "m": v }), json!({ "n": v, "m": v })]).collect()
    }

    fn num_doc() -> impl Strategy<Value = Json> {
        (prop::option::of(num_value()), prop::option::of(num_value())).prop_map(|(n, m)| {
            let mut d = serde_json::Map::new();
            if let Some(n) = n {
                d.insert("n".into(), n);
            }
            if let Some(m) = m {
                d.insert("m".into(), m);
            }
            Json::Object(d)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Issue #11: `diff` never contradicts brute-force evaluation, in particular on numbers
        /// past 2^53: a proven direction holds on every sampled event, and every witness is an
        /// event the evaluator separates the patterns with.
        #[test]
        fn diff_never_contradicts_evaluation((a, b) in num_pair(), docs in prop::collection::vec(num_doc(), 24)) {
            let (Ok(a), Ok(b)) = (parse(&format!("{{ {a} }}")), parse(&format!("{{ {b} }}"))) else { return Ok(()) };
            let mut docs = docs;
            docs.extend(boundary_docs(&[a.source(), b.source()]));
            let e = equivalent(&a, &b);
            for (c, covering, covered) in [(&e.a_covers_b, &a, &b), (&e.b_covers_a, &b, &a)] {
                match c {
                    Coverage::Covers => {
                        for d in &docs {
                            let ev = Event::from_value(d.clone());
                            prop_assert!(!covered.matches(&ev) || covering.matches(&ev),
                                "{} claimed to cover {} but {} disagrees", covering, covered, d);
                        }
                    }
                    Coverage::NotCovered { witness, .. } => {
                        let w = witness.clone().expect("JSON witnesses are always given");
                        let ev = Event::from_value(w.clone());
                        prop_assert!(covered.matches(&ev) && !covering.matches(&ev), "witness {} for {} vs {}", w, covering, covered);
                    }
                    Coverage::Unknown { .. } => {}
                }
            }
            // The summary agrees with the two directions.
            let want = match (e.a_covers_b.label(), e.b_covers_a.label()) {
                ("covers", "covers") => Relation::Equivalent,
                ("covers", "not_covered") => Relation::ACoversB,
                ("not_covered", "covers") => Relation::BCoversA,
                ("not_covered", "not_covered") => Relation::Neither,
                _ => Relation::Unknown,
            };
            prop_assert_eq!(e.relation(), want);
        }
    }

    fn scalar() -> impl Strategy<Value = Json> {
        prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            (-60i32..60).prop_map(Json::from),
            prop::sample::select(vec!["x", "y", "xyz", "A", "Ab", "abc", "0", "5", ""]).prop_map(Json::from),
        ]
    }

    fn sample_doc() -> impl Strategy<Value = Json> {
        (
            prop::option::of(scalar()),
            prop::option::of(scalar()),
            prop::option::of(scalar()),
            prop::option::of(scalar()),
            prop::option::of(scalar()),
        )
            .prop_map(|(a, c, d, f, xy)| {
                let mut m = serde_json::Map::new();
                if let Some(a) = a {
                    m.insert("a".into(), a);
                }
                if let Some(c) = c {
                    m.insert("b".into(), json!({ "c": c }));
                }
                if let Some(d) = d {
                    m.insert("d".into(), json!([d]));
                }
                if let Some(f) = f {
                    m.insert("e".into(), json!([{ "f": "zz" }, { "f": f }]));
                }
                if let Some(xy) = xy {
                    m.insert("x.y".into(), xy);
                }
                Json::Object(m)
            })
    }
}
