//! The portal's sandbox admin (issue 10; `docs/portal-protocol.md`,
//! "Sandbox only" and "Third-party service") on a served sandbox: the
//! insurer's view (§6) and a member's objection, the terms published (P7),
//! the use limit (P6), a card returned (§6 reason 3), J-LIS renewing or
//! revoking the sandbox card's certificate (P3/P4), and the sample
//! third-party service asking for consent and reading what it keeps (S1).
//! A real portal has none of these routes; they exist only in `mynakit
//! sandbox serve`. Each command is one request: the logic is the sandbox's.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use mynakit_core::portal::wire::{ConsentRequest, DISCOVERY_PATH, DataItem, ErrorBody};
use mynakit_core::{AuthorityLink, AuthorityRequest, AuthorityResponse, IdempotencyKey};
use mynakit_sandbox::card_state;
use mynakit_sandbox::portal::jlis::{self, Renewal};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::CmdResult;
use crate::failure::Failure;
use crate::home::Home;
use crate::output::Output;
use crate::wallet_cmd::jst;

/// How long one admin request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The sample third-party service the sandbox hosts (S1).
pub const SAMPLE_SERVICE: &str = "sample-health-app";

/// Which served sandbox.
#[derive(Debug, Args)]
pub struct Target {
    /// The served sandbox (`mynakit sandbox serve`).
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:8470",
        value_name = "URL"
    )]
    authority: String,
}

/// `mynakit sandbox insurer …`.
#[derive(Debug, Args)]
pub struct InsurerArgs {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    command: InsurerCommand,
}

/// The insurer's actions.
#[derive(Debug, Subcommand)]
pub enum InsurerCommand {
    /// The insurer's §6 table (first-registration state 0/1, dates, release
    /// reason 1/2/3, the certificate-expiry flag 0/1, as in the joint-use
    /// notice) with its two reminder lists (link your card, renew your
    /// certificate); with `--employer`, only what that employer may see.
    View(ViewArgs),
    /// A member objects to the joint use (§6 opt-out): left out of every
    /// employer's view from now on.
    Object(ObjectArgs),
}

/// Options of `sandbox insurer view`.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// Only what this employer of the insurer's group sees: its members who
    /// did not object, and only the reminder columns.
    #[arg(long, value_name = "EMPLOYER")]
    employer: Option<String>,
    /// Another insurer than the sandbox's (its number).
    #[arg(long, value_name = "NUMBER")]
    insurer: Option<String>,
    /// The next page: members after this id (the view's `next_after`).
    #[arg(long, value_name = "MEMBER")]
    after: Option<u64>,
    /// Members per page.
    #[arg(long, value_name = "N")]
    limit: Option<u32>,
}

/// Options of `sandbox insurer object`.
#[derive(Debug, Args)]
pub struct ObjectArgs {
    /// The member's id (the view's `member` column).
    member: u64,
}

/// `mynakit sandbox portal …`.
#[derive(Debug, Args)]
pub struct PortalAdminArgs {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    command: PortalAdminCommand,
}

/// The portal operator's actions.
#[derive(Debug, Subcommand)]
pub enum PortalAdminCommand {
    /// Publish a new terms version (P7): the next state change of every
    /// holder asks for agreement to it.
    PublishTerms(PublishTermsArgs),
    /// Limit use (P6): every API route answers 429 with Retry-After for
    /// LENGTH (`10m`, `30s`; `0s` ends it). The admin routes still answer.
    Limit(LimitArgs),
}

/// Options of `sandbox portal publish-terms`.
#[derive(Debug, Args)]
pub struct PublishTermsArgs {
    /// The new version's name.
    version: String,
}

/// Options of `sandbox portal limit`.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// How long: a whole number and s, m, h or d.
    length: String,
}

/// Options of `sandbox card-returned`.
#[derive(Debug, Args)]
pub struct CardReturnedArgs {
    #[command(flatten)]
    target: Target,
    /// The person (J-LIS's id) who returned the card. Default: the sample
    /// card's holder.
    #[arg(default_value = jlis::SAMPLE_PERSON)]
    person: String,
}

/// `mynakit sandbox jlis …`.
#[derive(Debug, Args)]
pub struct JlisArgs {
    #[command(flatten)]
    target: Target,
    /// The home whose sandbox card J-LIS acts on (`sandbox-card.json`).
    #[arg(long, global = true, value_name = "DIR")]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command: JlisCommand,
}

/// J-LIS's actions on the sandbox card.
#[derive(Debug, Subcommand)]
pub enum JlisCommand {
    /// Re-issue the sandbox card's certificates today by the served
    /// sandbox's clock (a renewal at the municipal window): the card in the
    /// home's state file gets the new certificates, and the served J-LIS
    /// directory links the new serial to the earlier one (旧番号, P3/P4).
    Renew,
    /// Revoke the sandbox card's authentication certificate (or `--serial`)
    /// in the served J-LIS directory: its next login is refused.
    Revoke(RevokeArgs),
}

/// Options of `sandbox jlis revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The serial, hex. Default: the home's sandbox card's.
    #[arg(long, value_name = "HEX")]
    serial: Option<String>,
}

/// `mynakit sandbox service …`.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    command: ServiceCommand,
}

/// The sample third-party service (S1).
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Ask the holder, through the portal, for items with a purpose and a
    /// retention period: prints the request id the holder then grants
    /// (`mynakit portal consents grant ID`).
    Request(AskArgs),
    /// What the service keeps under a consent: only the granted items,
    /// until the retention ends or the consent is withdrawn (then exit 13,
    /// `consent_not_in_force`).
    Data(DataArgs),
    /// The service's purge log: what it deleted, when and why.
    Purges,
}

/// Options of `sandbox service request`.
#[derive(Debug, Args)]
pub struct AskArgs {
    /// Comma-separated: `insured_card`, `insurance_registration`,
    /// `certificate_validity`.
    #[arg(long, value_delimiter = ',', required = true)]
    items: Vec<String>,
    /// What the items will be used for, and only for.
    #[arg(long)]
    purpose: String,
    /// How long the service keeps them.
    #[arg(long, value_name = "N")]
    retention_days: u32,
}

/// Options of `sandbox service data`.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// The consent's id.
    consent_id: String,
}

// ---------------------------------------------------------------------------
// The admin client.

/// A served sandbox's portal routes.
pub struct PortalAdmin {
    base: String,
    link: mynakit_http::HttpAuthorityLink,
}

impl PortalAdmin {
    /// The served sandbox at `base`.
    pub fn new(base: &str) -> Result<Self, Failure> {
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            link: mynakit_http::HttpAuthorityLink::new(base, TIMEOUT)
                .map_err(|e| Failure::Input(e.to_string()))?,
        })
    }

    fn send(&self, request: AuthorityRequest) -> Result<AuthorityResponse, Failure> {
        pollster::block_on(self.link.send(request)).map_err(|e| Failure::AuthorityUnavailable {
            message: format!("{}: {e}", self.base),
            retry_after: None,
        })
    }

    /// A GET, its JSON answer.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        let answer = self.send(AuthorityRequest::get(path))?;
        parse_answer(&self.base, &answer)
    }

    /// A POST of `body` (JSON) under a fresh idempotency key, its answer.
    pub fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, Failure> {
        let key = IdempotencyKey::generate().map_err(|e| Failure::Other(e.to_string()))?;
        let body = serde_json::to_vec(body).map_err(|e| Failure::Other(e.to_string()))?;
        let answer = self.send(
            AuthorityRequest::post(path, body, &key).header("Content-Type", "application/json"),
        )?;
        parse_answer(&self.base, &answer)
    }

    /// The served sandbox's time, from the `Date` of an answer.
    fn now(&self) -> Result<chrono::DateTime<chrono::Utc>, Failure> {
        let answer = self.send(AuthorityRequest::get(DISCOVERY_PATH))?;
        answer
            .header("Date")
            .and_then(mynakit_core::parse_http_date)
            .ok_or_else(|| Failure::Other(format!("{}: no Date in the answer", self.base)))
    }
}

/// The JSON of a 2xx; else 429/503 unavailable with the wait (P6), a
/// portal refusal with its kind, anything else "not a served sandbox".
fn parse_answer<T: DeserializeOwned>(base: &str, answer: &AuthorityResponse) -> Result<T, Failure> {
    match answer.status {
        200..=299 => serde_json::from_slice(&answer.body)
            .map_err(|e| Failure::Other(format!("unexpected answer: {e}"))),
        429 | 503 => Err(Failure::AuthorityUnavailable {
            message: format!(
                "{base} {} (status {}, P6)",
                if answer.status == 429 {
                    "limits use"
                } else {
                    "is out of service"
                },
                answer.status
            ),
            retry_after: answer
                .header("Retry-After")
                .and_then(|v| v.trim().parse().ok()),
        }),
        status => match serde_json::from_slice::<ErrorBody>(&answer.body) {
            Ok(body) if body.error != "no_such_route" => Err(Failure::AuthorityRefused {
                message: format!(
                    "the sandbox refused: {} (status {status}){}",
                    body.error,
                    body.error_description
                        .as_deref()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                ),
                refusal: body.error,
            }),
            _ => Err(Failure::Other(format!(
                "{base} refused (status {status}): not a served sandbox with the portal?"
            ))),
        },
    }
}

/// One `snake_case` value of a wire enum.
fn parse_item(text: &str) -> Result<DataItem, Failure> {
    serde_json::from_value(Value::String(text.trim().to_owned())).map_err(|_| {
        Failure::Input(format!(
            "{text:?} is not an item (insured_card, insurance_registration, certificate_validity)"
        ))
    })
}

fn field<'a>(value: &'a Value, name: &str) -> &'a str {
    value.get(name).and_then(Value::as_str).unwrap_or("-")
}

fn number(value: &Value, name: &str) -> String {
    match value.get(name) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => "-".to_owned(),
    }
}

// ---------------------------------------------------------------------------
// The commands.

/// Runs `sandbox insurer …`.
pub fn insurer(args: &InsurerArgs, out: &Output) -> CmdResult {
    let admin = PortalAdmin::new(&args.target.authority)?;
    match &args.command {
        InsurerCommand::View(view) => {
            let mut query = Vec::new();
            if let Some(insurer) = &view.insurer {
                query.push(format!("insurer={insurer}"));
            }
            if let Some(employer) = &view.employer {
                query.push(format!("employer={employer}"));
            }
            if let Some(after) = view.after {
                query.push(format!("after={after}"));
            }
            if let Some(limit) = view.limit {
                query.push(format!("limit={limit}"));
            }
            for part in &query {
                let value = part.split_once('=').map_or("", |(_, v)| v);
                if value.is_empty()
                    || !value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(Failure::Input(format!(
                        "{part}: letters, digits, - and _ only"
                    )));
                }
            }
            let path = if query.is_empty() {
                "/v1/sandbox/insurer/view".to_owned()
            } else {
                format!("/v1/sandbox/insurer/view?{}", query.join("&"))
            };
            let answer: Value = admin.get(&path)?;
            out.result(&answer, || view_human(&answer));
        }
        InsurerCommand::Object(object) => {
            let answer: Value = admin.post(
                "/v1/sandbox/insurer/objections",
                &json!({ "member": object.member }),
            )?;
            out.result(&answer, || {
                format!(
                    "member {} objected to the joint use (§6 opt-out): left out of the employers' view",
                    object.member
                )
            });
        }
    }
    Ok(())
}

/// The §6 table for people: the notice's codes, then the two lists.
fn view_human(view: &Value) -> String {
    let mut lines = vec![match view.get("employer").and_then(Value::as_str) {
        Some(employer) => format!(
            "employer {employer} of insurer {} — as of {} (only the reminders, members who did not object; §6 joint use)",
            field(view, "insurer_number"),
            field(view, "as_of")
        ),
        None => format!(
            "insurer {} {} — as of {}",
            field(view, "insurer_number"),
            field(view, "insurer_name"),
            field(view, "as_of")
        ),
    }];
    if let Some(totals) = view.get("totals").filter(|t| !t.is_null()) {
        lines.push(format!(
            "{} member(s); link reminders {}, renewal reminders {}",
            number(totals, "members"),
            number(totals, "link_reminders"),
            number(totals, "renewal_reminders")
        ));
    }
    if let Some(rows) = view.get("rows").and_then(Value::as_array) {
        lines.push(
            "member  symbol-number-branch      state  registered  released    reason  flag"
                .to_owned(),
        );
        for row in rows {
            lines.push(format!(
                "{:<7} {:<25} {:<6} {:<11} {:<11} {:<7} {}",
                number(row, "member"),
                format!(
                    "{}-{}-{}",
                    field(row, "symbol"),
                    field(row, "number"),
                    field(row, "branch")
                ),
                number(row, "first_registration_state"),
                field(row, "registered_on"),
                field(row, "released_on"),
                number(row, "release_reason"),
                number(row, "certificate_expiry_flag"),
            ));
        }
        lines.push(
            "  state: 1 registered, 0 not; reason: 1 the member asked, 2 three months or more since the certificate expired, 3 card returned; flag: 1 valid or expired under three months, 0 expired three months or more (§6)"
                .to_owned(),
        );
    }
    let key = |k: &Value| {
        format!(
            "{}-{}-{}",
            field(k, "symbol"),
            field(k, "number"),
            field(k, "branch")
        )
    };
    let list = |name: &str| {
        view.get(name)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let link = list("link_reminders");
    lines.push(format!(
        "link your card (紐付勧奨): {}",
        if link.is_empty() {
            "none".to_owned()
        } else {
            link.iter().map(key).collect::<Vec<_>>().join(", ")
        }
    ));
    let renew = list("renewal_reminders");
    lines.push(format!(
        "renew your certificate (再交付勧奨): {}",
        if renew.is_empty() {
            "none".to_owned()
        } else {
            renew
                .iter()
                .map(|r| format!("{} (flag {})", key(r), number(r, "certificate_expiry_flag")))
                .collect::<Vec<_>>()
                .join(", ")
        }
    ));
    if let Some(next) = view.get("next_after").filter(|n| !n.is_null()) {
        lines.push(format!("more: --after {next}"));
    }
    lines.join("\n")
}

/// Runs `sandbox portal …`.
pub fn portal(args: &PortalAdminArgs, out: &Output) -> CmdResult {
    let admin = PortalAdmin::new(&args.target.authority)?;
    match &args.command {
        PortalAdminCommand::PublishTerms(publish) => {
            if publish.version.trim().is_empty() {
                return Err(Failure::Input("a terms version needs a name".into()));
            }
            let answer: Value = admin.post(
                "/v1/sandbox/portal/terms",
                &json!({ "version": publish.version }),
            )?;
            out.result(&answer, || {
                format!(
                    "terms version {} in force (P7): each holder's next state change asks for agreement",
                    field(&answer, "version")
                )
            });
        }
        PortalAdminCommand::Limit(limit) => {
            if mynakit_sandbox::reset::clock::parse_duration(&limit.length).is_none() {
                return Err(Failure::Input(format!(
                    "{}: a whole number and s, m, h or d (10m, 30s)",
                    limit.length
                )));
            }
            let answer: Value = admin.post(
                "/v1/sandbox/portal/limit",
                &json!({ "length": limit.length }),
            )?;
            out.result(&answer, || {
                let seconds = answer
                    .get("retry_after")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                if seconds == 0 {
                    "the portal no longer limits use".to_owned()
                } else {
                    format!(
                        "the portal answers 429 until {} ({seconds} s; P6)",
                        field(&answer, "until")
                    )
                }
            });
        }
    }
    Ok(())
}

/// Runs `sandbox card-returned`.
pub fn card_returned(args: &CardReturnedArgs, out: &Output) -> CmdResult {
    let admin = PortalAdmin::new(&args.target.authority)?;
    let answer: Value = admin.post(
        "/v1/sandbox/insurer/card-returned",
        &json!({ "person": args.person }),
    )?;
    out.result(&answer, || {
        format!(
            "{} returned the card: {} certificate(s) revoked; {}",
            args.person,
            number(&answer, "revoked_certificates"),
            if answer.get("released").and_then(Value::as_bool) == Some(true) {
                "the registration is released (§6 reason 3, state 0)"
            } else {
                "no registration to release"
            }
        )
    });
    Ok(())
}

/// Runs `sandbox jlis …`.
pub fn jlis(args: &JlisArgs, out: &Output) -> CmdResult {
    let admin = PortalAdmin::new(&args.target.authority)?;
    let home = Home::open(args.home.as_deref())?;
    let card_path = home.sandbox_card();
    let mut card =
        card_state::load_or_create(&card_path).map_err(|e| Failure::Other(e.to_string()))?;
    match &args.command {
        JlisCommand::Renew => {
            let previous_serial = jlis::serial_key(card.auth_certificate());
            // Today by the sandbox's clock (it may have been moved on), in
            // Japan: the new certificates are valid from then.
            let today = mynakit_core::japan_date(admin.now()?);
            if today == card.certificates_issued_on() {
                return Err(Failure::Input(format!(
                    "the card's certificates were issued today ({today}) already"
                )));
            }
            card.renew_certificates(today)
                .map_err(|e| Failure::Other(e.to_string()))?;
            let renewal = Renewal {
                certificate: card
                    .auth_certificate()
                    .der()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
                previous_serial: previous_serial.clone(),
            };
            // J-LIS first: the card keeps its old certificates if the
            // directory refused (and the same renewal can be sent again).
            let row: Value = admin.post("/v1/sandbox/jlis/renewals", &renewal)?;
            card_state::save(&card, &card_path).map_err(|e| Failure::Other(e.to_string()))?;
            let value = json!({
                "serial": row.get("serial"),
                "previous_serial": previous_serial,
                "issued_on": today,
                "not_before": row.get("not_before"),
                "not_after": row.get("not_after"),
            });
            out.result(&value, || {
                format!(
                    "J-LIS renewed the sandbox card's certificates on {today}: serial {} replaces {previous_serial} (旧番号, P3/P4); valid until {}",
                    field(&row, "serial"),
                    row.get("not_after")
                        .and_then(|v| serde_json::from_value(v.clone()).ok())
                        .map_or_else(|| "-".to_owned(), jst)
                )
            });
        }
        JlisCommand::Revoke(revoke) => {
            let serial = match &revoke.serial {
                Some(serial) => {
                    if serial.is_empty() || !serial.chars().all(|c| c.is_ascii_hexdigit()) {
                        return Err(Failure::Input(format!("{serial}: not a hex serial")));
                    }
                    serial.to_ascii_lowercase()
                }
                None => jlis::serial_key(card.auth_certificate()),
            };
            let row: Value =
                admin.post("/v1/sandbox/jlis/revocations", &json!({ "serial": serial }))?;
            out.result(&row, || {
                format!("certificate {serial} revoked in J-LIS's directory: its next login is refused (P2)")
            });
        }
    }
    Ok(())
}

/// Runs `sandbox service …`.
pub fn service(args: &ServiceArgs, out: &Output) -> CmdResult {
    let admin = PortalAdmin::new(&args.target.authority)?;
    match &args.command {
        ServiceCommand::Request(ask) => {
            let items = ask
                .items
                .iter()
                .map(|i| parse_item(i))
                .collect::<Result<Vec<_>, _>>()?;
            let request: ConsentRequest = admin.post(
                &format!("/v1/services/{SAMPLE_SERVICE}/consent-requests"),
                &json!({
                    "items": items,
                    "purpose": ask.purpose,
                    "retention_days": ask.retention_days,
                }),
            )?;
            out.result(&request, || {
                format!(
                    "{} asks for {} (purpose: {}; kept {} day(s), S1)\nrequest id: {}\nthe holder answers with `mynakit portal consents grant {}` before {}",
                    request.service_name,
                    request
                        .items
                        .iter()
                        .map(crate::reset_cmd::snake)
                        .collect::<Vec<_>>()
                        .join(", "),
                    request.purpose,
                    request.retention_days,
                    request.request_id,
                    request.request_id,
                    jst(request.expires_at)
                )
            });
        }
        ServiceCommand::Data(data) => {
            let id = &data.consent_id;
            if id.is_empty()
                || id.len() > 64
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(Failure::Input(format!("{id:?}: not a consent id")));
            }
            let copy: Value = admin.get(&format!("/v1/services/{SAMPLE_SERVICE}/data/{id}"))?;
            out.result(&copy, || {
                let mut lines = vec![format!(
                    "{} keeps, under consent {id}, for \"{}\" only, until {}:",
                    field(&copy, "service_id"),
                    field(&copy, "purpose"),
                    field(&copy, "retain_until")
                )];
                if let Some(map) = copy.get("data").and_then(Value::as_object) {
                    for (item, value) in map {
                        lines.push(format!("  {item}: {value}"));
                    }
                }
                lines.join("\n")
            });
        }
        ServiceCommand::Purges => {
            let purges: Vec<Value> =
                admin.get(&format!("/v1/sandbox/services/{SAMPLE_SERVICE}/purges"))?;
            out.result(&purges, || {
                if purges.is_empty() {
                    "nothing purged yet".to_owned()
                } else {
                    purges
                        .iter()
                        .map(|p| {
                            format!(
                                "{}: consent {} purged ({})",
                                field(p, "purged_at"),
                                field(p, "consent_id"),
                                field(p, "reason")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                }
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> AuthorityResponse {
        AuthorityResponse {
            status,
            headers: vec![("Retry-After".into(), "30".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn refusals_keep_the_portals_kind() {
        let failure = parse_answer::<Value>(
            "http://x",
            &answer(
                410,
                r#"{"error":"consent_not_in_force","error_description":"withdrawn"}"#,
            ),
        )
        .unwrap_err();
        assert_eq!(failure.exit_code(), crate::failure::exit::AUTHORITY_REFUSED);
        assert_eq!(
            failure.to_json()["error"]["refusal"],
            "consent_not_in_force"
        );
        assert!(failure.message().contains("withdrawn"));
    }

    #[test]
    fn the_limit_is_unavailable_with_its_wait() {
        let failure = parse_answer::<Value>("http://x", &answer(429, "{}")).unwrap_err();
        assert_eq!(
            failure.exit_code(),
            crate::failure::exit::AUTHORITY_UNAVAILABLE
        );
        assert_eq!(failure.to_json()["error"]["retry_after"], 30);
    }

    #[test]
    fn a_server_without_the_routes_is_not_a_refusal() {
        let failure =
            parse_answer::<Value>("http://x", &answer(404, r#"{"error":"no_such_route"}"#))
                .unwrap_err();
        assert_eq!(failure.kind(), "error");
    }

    #[test]
    fn the_view_prints_the_notices_codes_and_both_lists() {
        let view = json!({
            "insurer_number": "06139999", "insurer_name": "sandbox", "as_of": "2031-01-01",
            "totals": {"members": 2, "link_reminders": 1, "renewal_reminders": 1},
            "rows": [{"member": 1, "symbol": "S", "number": "N", "branch": "01",
                      "first_registration_state": 0, "registered_on": "2030-01-01",
                      "released_on": "2030-09-01", "release_reason": 2,
                      "certificate_expiry_flag": 0}],
            "link_reminders": [{"symbol": "S", "number": "N", "branch": "01"}],
            "renewal_reminders": [{"symbol": "S", "number": "N", "branch": "01",
                                   "certificate_expiry_flag": 0}],
            "next_after": null
        });
        let text = view_human(&view);
        assert!(text.contains("S-N-01"), "{text}");
        assert!(text.contains("紐付勧奨): S-N-01"), "{text}");
        assert!(text.contains("再交付勧奨): S-N-01 (flag 0)"), "{text}");
        let row = text.lines().find(|l| l.starts_with("1 ")).unwrap();
        assert!(row.ends_with(" 2       0"), "{row:?}");
    }
}
