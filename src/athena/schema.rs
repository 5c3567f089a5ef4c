//! The CloudTrail table AWS documents for Athena ("Create a table for CloudTrail logs in Athena
//! using manual partitioning" and its partition-projection twin): which record property lives in
//! which column, with which type.
//!
//! Glue lower-cases column and struct-field names; the JSON SerDe matches record keys to them
//! case-insensitively. cwfix only maps a record key spelled exactly as CloudTrail writes it
//! (`sourceIPAddress`, `requestID`, `resources[].ARN`), so a pattern that misspells a key does
//! not silently start matching in Athena.
//!
//! What the table loses, and the reading cwfix takes (documented in docs/hunting.md):
//! - JSON `null` and a missing property are both SQL `NULL`. CloudTrail always writes
//!   `requestParameters` and `responseElements` (null when empty), so there `NULL` reads as
//!   JSON null; in every other column it reads as "absent".
//! - `readOnly` is a JSON boolean stored as the text `true`/`false`.
//! - `requestParameters`, `responseElements`, `additionalEventData`, `serviceEventDetails` and
//!   `edgeDeviceDetails` are kept as JSON text and read with `json_extract_scalar`.
//! - Properties the DDL does not list (e.g. `managementEvent`) are not in the table at all:
//!   compiling a pattern or query that reads them is an error.

/// The type of a column or struct field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// A JSON string.
    Str,
    /// A JSON boolean stored as text.
    Bool,
    /// JSON text (any JSON value), read with the JSON functions.
    Json,
    Struct(&'static [Field]),
    /// An array of structs (`resources`).
    ArrayOf(&'static [Field]),
    /// A map the SerDe keeps (not addressable from patterns or queries).
    Map,
}

/// One column or struct field: the record key as CloudTrail writes it, the SQL name, the type,
/// and whether CloudTrail always writes it (then SQL NULL means JSON null, not absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub key: &'static str,
    pub sql: &'static str,
    pub ty: Ty,
    pub always_present: bool,
}

const fn f(key: &'static str, sql: &'static str, ty: Ty) -> Field {
    Field { key, sql, ty, always_present: false }
}

const fn always(key: &'static str, sql: &'static str, ty: Ty) -> Field {
    Field { key, sql, ty, always_present: true }
}

const ON_BEHALF_OF: &[Field] = &[f("userId", "userid", Ty::Str), f("identityStoreArn", "identitystorearn", Ty::Str)];
const ATTRIBUTES: &[Field] =
    &[f("mfaAuthenticated", "mfaauthenticated", Ty::Str), f("creationDate", "creationdate", Ty::Str)];
const SESSION_ISSUER: &[Field] = &[
    f("type", "type", Ty::Str),
    f("principalId", "principalid", Ty::Str),
    f("arn", "arn", Ty::Str),
    f("accountId", "accountid", Ty::Str),
    f("userName", "username", Ty::Str),
];
const WEB_ID: &[Field] =
    &[f("federatedProvider", "federatedprovider", Ty::Str), f("attributes", "attributes", Ty::Map)];
const SESSION_CONTEXT: &[Field] = &[
    f("attributes", "attributes", Ty::Struct(ATTRIBUTES)),
    f("sessionIssuer", "sessionissuer", Ty::Struct(SESSION_ISSUER)),
    f("ec2RoleDelivery", "ec2roledelivery", Ty::Str),
    f("webIdFederationData", "webidfederationdata", Ty::Struct(WEB_ID)),
];
const USER_IDENTITY: &[Field] = &[
    f("type", "type", Ty::Str),
    f("principalId", "principalid", Ty::Str),
    f("arn", "arn", Ty::Str),
    f("accountId", "accountid", Ty::Str),
    f("invokedBy", "invokedby", Ty::Str),
    f("accessKeyId", "accesskeyid", Ty::Str),
    f("userName", "username", Ty::Str),
    f("onBehalfOf", "onbehalfof", Ty::Struct(ON_BEHALF_OF)),
    f("sessionContext", "sessioncontext", Ty::Struct(SESSION_CONTEXT)),
];
const RESOURCE: &[Field] =
    &[f("ARN", "arn", Ty::Str), f("accountId", "accountid", Ty::Str), f("type", "type", Ty::Str)];
const ADDENDUM: &[Field] = &[
    f("reason", "reason", Ty::Str),
    f("updatedFields", "updatedfields", Ty::Str),
    f("originalRequestID", "originalrequestid", Ty::Str),
    f("originalEventID", "originaleventid", Ty::Str),
];
const TLS: &[Field] = &[
    f("tlsVersion", "tlsversion", Ty::Str),
    f("cipherSuite", "ciphersuite", Ty::Str),
    f("clientProvidedHostHeader", "clientprovidedhostheader", Ty::Str),
];

/// The columns, in the documented order.
pub const COLUMNS: &[Field] = &[
    f("eventVersion", "eventversion", Ty::Str),
    f("userIdentity", "useridentity", Ty::Struct(USER_IDENTITY)),
    f("eventTime", "eventtime", Ty::Str),
    f("eventSource", "eventsource", Ty::Str),
    f("eventName", "eventname", Ty::Str),
    f("awsRegion", "awsregion", Ty::Str),
    f("sourceIPAddress", "sourceipaddress", Ty::Str),
    f("userAgent", "useragent", Ty::Str),
    f("errorCode", "errorcode", Ty::Str),
    f("errorMessage", "errormessage", Ty::Str),
    always("requestParameters", "requestparameters", Ty::Json),
    always("responseElements", "responseelements", Ty::Json),
    f("additionalEventData", "additionaleventdata", Ty::Json),
    f("requestID", "requestid", Ty::Str),
    f("eventID", "eventid", Ty::Str),
    f("resources", "resources", Ty::ArrayOf(RESOURCE)),
    f("eventType", "eventtype", Ty::Str),
    f("apiVersion", "apiversion", Ty::Str),
    f("readOnly", "readonly", Ty::Bool),
    f("recipientAccountId", "recipientaccountid", Ty::Str),
    f("serviceEventDetails", "serviceeventdetails", Ty::Json),
    f("sharedEventID", "sharedeventid", Ty::Str),
    f("vpcEndpointId", "vpcendpointid", Ty::Str),
    f("vpcEndpointAccountId", "vpcendpointaccountid", Ty::Str),
    f("eventCategory", "eventcategory", Ty::Str),
    f("addendum", "addendum", Ty::Struct(ADDENDUM)),
    f("sessionCredentialFromConsole", "sessioncredentialfromconsole", Ty::Str),
    f("edgeDeviceDetails", "edgedevicedetails", Ty::Json),
    f("tlsDetails", "tlsdetails", Ty::Struct(TLS)),
];

/// The field called `key` (exact spelling) among `fields`.
pub fn field(fields: &'static [Field], key: &str) -> Option<&'static Field> {
    fields.iter().find(|f| f.key == key)
}

/// The documented DDL's column list (for docs and the test harness): `name TYPE` per column.
pub fn ddl_columns() -> String {
    fn ty(t: Ty) -> String {
        match t {
            Ty::Str | Ty::Bool | Ty::Json => "STRING".into(),
            Ty::Map => "MAP<STRING,STRING>".into(),
            Ty::Struct(fs) => format!(
                "STRUCT<{}>",
                fs.iter().map(|f| format!("{}:{}", f.sql, ty(f.ty))).collect::<Vec<_>>().join(",")
            ),
            Ty::ArrayOf(fs) => format!("ARRAY<{}>", ty(Ty::Struct(fs))),
        }
    }
    COLUMNS.iter().map(|c| format!("{} {}", c.sql, ty(c.ty))).collect::<Vec<_>>().join(",\n")
}
