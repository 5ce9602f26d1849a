//! `mynakit sandbox issuer …`: the call centre's and the authority's actions
//! on a served sandbox wallet issuer (issue 9; `docs/wallet-protocol.md`,
//! "Sandbox admin"): revoke with a reason (W8(1)(2), (5)), report a phone
//! lost (W9), recovered (W6(4)), a key compromised (W7(1)), revoke a signing
//! certificate in the card registry (W4, W8(1)(1)). A real issuer has none
//! of these routes; they exist only in `mynakit sandbox serve`.

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use mynakit_core::{AuthorityLink, AuthorityRequest, AuthorityResponse, IdempotencyKey};
use serde_json::{Value, json};

use crate::CmdResult;
use crate::failure::Failure;
use crate::output::Output;

/// How long one admin request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The admin routes' prefix (sandbox only).
const ADMIN: &str = "/v1/sandbox/wallet";

/// `mynakit sandbox issuer …`.
#[derive(Debug, Args)]
pub struct IssuerArgs {
    /// The served sandbox (`mynakit sandbox serve`).
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:8470",
        value_name = "URL"
    )]
    authority: String,
    #[command(subcommand)]
    command: IssuerCommand,
}

/// The admin actions.
#[derive(Debug, Subcommand)]
pub enum IssuerCommand {
    /// Every record the issuer made, newest first (no personal data).
    Records,
    /// Revoke a record: a recording error (W8(1)(2), the holder is
    /// notified) or an operational reason (W8(1)(5), a public notice).
    Revoke(RevokeArgs),
    /// The holder reported the phone lost (W9): the record is SUSPENDED in
    /// the status list; no re-issue until it is recovered.
    ReportLost(RecordArg),
    /// The lost phone was found (W6(4)): the suspension no longer holds the
    /// chain and a re-issue is due (the phone's next `wallet refresh`).
    Recovered(RecordArg),
    /// The holder reported the device key compromised (W7(1)): revoked,
    /// the chain ends.
    Compromised(RecordArg),
    /// Put a signing certificate's serial on the card registry's revocation
    /// list (W4, W8(1)(1)): every record applied with it is revoked.
    RevokeCertificate(SerialArg),
    /// The issuer's key leaked (W8(1)(4)): every record not yet revoked is
    /// revoked, holders are notified, a public notice (Art. 8(3)); the IACA
    /// and the document signer are replaced (verifiers pin the new IACA).
    IssuerKeyCompromise,
}

/// Why an admin revokes (the reasons that have no route of their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AdminReason {
    /// W8(1)(2): the record was made in error.
    RecordingError,
    /// W8(1)(5): an operational reason (public notice, Art. 8(3)).
    Operational,
}

/// Options of `sandbox issuer revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Why.
    #[arg(long, value_enum)]
    reason: AdminReason,
    #[command(flatten)]
    record: RecordArg,
}

/// Which record.
#[derive(Debug, Args)]
pub struct RecordArg {
    /// The record's id (32 hex digits, as `wallet show` or `sandbox issuer
    /// records` print it). Default: the newest record not replaced.
    id: Option<String>,
}

/// Options of `sandbox issuer revoke-certificate`.
#[derive(Debug, Args)]
pub struct SerialArg {
    /// The signing certificate's serial, hex. Default: the serial of the
    /// newest record's certificate.
    #[arg(long, value_name = "HEX")]
    serial: Option<String>,
}

/// Runs an issuer admin command.
pub fn run(args: &IssuerArgs, out: &Output) -> CmdResult {
    let admin = Admin::new(&args.authority)?;
    match &args.command {
        IssuerCommand::Records => {
            let records = admin.records()?;
            out.result(&records, || records_human(&records));
            Ok(())
        }
        IssuerCommand::Revoke(revoke) => {
            let id = admin.record_id(revoke.record.id.as_deref())?;
            let reason = match revoke.reason {
                AdminReason::RecordingError => "recording_error",
                AdminReason::Operational => "operational",
            };
            let state = admin.post(
                &format!("{ADMIN}/records/{id}/revocations"),
                &json!({ "reason": reason }),
            )?;
            out.result(&state, || state_human("revoked", &state));
            Ok(())
        }
        IssuerCommand::ReportLost(record) => {
            admin.record_action(record, "lost", "reported lost (W9): suspended", out)
        }
        IssuerCommand::Recovered(record) => admin.record_action(
            record,
            "recovered",
            "recovered (W6(4)): re-issue due at the phone's next refresh",
            out,
        ),
        IssuerCommand::Compromised(record) => admin.record_action(
            record,
            "compromised",
            "key reported compromised (W7(1)): revoked",
            out,
        ),
        IssuerCommand::IssuerKeyCompromise => {
            let notice = admin.post(&format!("{ADMIN}/issuer-key/compromise"), &json!({}))?;
            out.result(&notice, || {
                format!(
                    "issuer key compromised (W8(1)(4)): {} record(s) revoked; public notice: {}",
                    notice.get("records").and_then(Value::as_u64).unwrap_or(0),
                    notice.get("text").and_then(Value::as_str).unwrap_or("-")
                )
            });
            Ok(())
        }
        IssuerCommand::RevokeCertificate(serial) => {
            let serial = match &serial.serial {
                Some(serial) => {
                    if serial.is_empty() || !serial.chars().all(|c| c.is_ascii_hexdigit()) {
                        return Err(Failure::Input(format!("{serial}: not a hex serial")));
                    }
                    serial.to_ascii_lowercase()
                }
                None => admin
                    .newest()?
                    .get("certificate_serial")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        Failure::Other("the issuer's record has no certificate serial".into())
                    })?,
            };
            let answer = admin.post(
                &format!("{ADMIN}/certificates/revocations"),
                &json!({ "serial": serial }),
            )?;
            out.result(&answer, || {
                format!(
                    "certificate {serial} revoked (W4, W8(1)(1)): {} record(s) revoked",
                    answer
                        .get("records_revoked")
                        .and_then(Value::as_u64)
                        .unwrap_or(0)
                )
            });
            Ok(())
        }
    }
}

/// A served sandbox's admin routes.
struct Admin {
    base: String,
    link: mynakit_http::HttpAuthorityLink,
}

impl Admin {
    fn new(base: &str) -> Result<Self, Failure> {
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            link: mynakit_http::HttpAuthorityLink::new(base, TIMEOUT)
                .map_err(|e| Failure::Input(e.to_string()))?,
        })
    }

    fn records(&self) -> Result<Vec<Value>, Failure> {
        let answer = self.send(AuthorityRequest::get(format!("{ADMIN}/records")))?;
        serde_json::from_value(answer)
            .map_err(|e| Failure::Other(format!("unexpected answer: {e}")))
    }

    /// The newest record not replaced by another.
    fn newest(&self) -> Result<Value, Failure> {
        self.records()?
            .into_iter()
            .find(|r| r.get("replaced_by").is_none_or(Value::is_null))
            .ok_or_else(|| Failure::Input("the issuer has no record yet".into()))
    }

    /// `id` checked (it goes into a path), else the newest record's.
    fn record_id(&self, id: Option<&str>) -> Result<String, Failure> {
        match id {
            Some(id) if mynakit_core::wallet::wire::is_record_id(id) => Ok(id.to_owned()),
            Some(id) => Err(Failure::Input(format!(
                "{id}: a record id is 32 lowercase hex digits"
            ))),
            None => self
                .newest()?
                .get("record_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| Failure::Other("the issuer's record has no id".into())),
        }
    }

    fn record_action(
        &self,
        record: &RecordArg,
        action: &str,
        done: &str,
        out: &Output,
    ) -> CmdResult {
        let id = self.record_id(record.id.as_deref())?;
        let state = self.post(&format!("{ADMIN}/records/{id}/{action}"), &json!({}))?;
        out.result(&state, || state_human(done, &state));
        Ok(())
    }

    fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        let key = IdempotencyKey::generate().map_err(|e| Failure::Other(e.to_string()))?;
        let body = serde_json::to_vec(body).map_err(|e| Failure::Other(e.to_string()))?;
        self.send(
            AuthorityRequest::post(path, body, &key).header("Content-Type", "application/json"),
        )
    }

    fn send(&self, request: AuthorityRequest) -> Result<Value, Failure> {
        let answer = pollster::block_on(self.link.send(request)).map_err(|e| {
            Failure::AuthorityUnavailable {
                message: format!("{}: {e}", self.base),
                retry_after: None,
            }
        })?;
        admin_answer(&self.base, &answer)
    }
}

/// The JSON of a 2xx, else the failure: 429/503 unavailable (W12), a
/// `WalletErrorBody` refusal with its kind, anything else "not a served
/// sandbox".
fn admin_answer(base: &str, answer: &AuthorityResponse) -> Result<Value, Failure> {
    match answer.status {
        200..=299 => serde_json::from_slice(&answer.body)
            .map_err(|e| Failure::Other(format!("unexpected answer: {e}"))),
        429 | 503 => Err(Failure::AuthorityUnavailable {
            message: format!("{base} is out of service (status {})", answer.status),
            retry_after: answer
                .header("Retry-After")
                .and_then(|v| v.trim().parse().ok()),
        }),
        status => {
            let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
            match body.get("error").and_then(Value::as_str) {
                Some("no_such_route") | None => Err(Failure::Other(format!(
                    "{base} refused (status {status}): not a served sandbox with a wallet issuer?"
                ))),
                Some(error) => Err(Failure::AuthorityRefused {
                    refusal: error.to_owned(),
                    message: format!(
                        "the issuer refused: {error} (status {status}){}",
                        body.get("detail")
                            .and_then(Value::as_str)
                            .map(|d| format!(": {d}"))
                            .unwrap_or_default()
                    ),
                }),
            }
        }
    }
}

fn state_human(done: &str, state: &Value) -> String {
    let field = |name: &str| {
        state
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_owned()
    };
    format!(
        "record {}: {done}\n  status {}, reason {}",
        field("record_id"),
        field("status"),
        field("revocation_reason"),
    )
}

fn records_human(records: &[Value]) -> String {
    if records.is_empty() {
        return "the issuer has no records".to_owned();
    }
    records
        .iter()
        .map(|r| {
            let field = |name: &str| r.get(name).and_then(Value::as_str).unwrap_or("-");
            format!(
                "{}  {:<9} {:<22} until {}  serial {}{}",
                field("record_id"),
                field("status"),
                field("revocation_reason"),
                field("valid_until"),
                field("certificate_serial"),
                r.get("replaced_by")
                    .and_then(Value::as_str)
                    .map(|by| format!("  replaced by {by}"))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
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
    fn refusals_keep_the_issuers_kind() {
        let failure = admin_answer(
            "http://x",
            &answer(409, r#"{"error":"record_suspended","detail":"twice"}"#),
        )
        .unwrap_err();
        assert_eq!(failure.kind(), "authority_refused");
        assert_eq!(failure.to_json()["error"]["refusal"], "record_suspended");
        assert!(failure.message().contains("twice"));
    }

    #[test]
    fn maintenance_is_unavailable_with_its_wait() {
        let failure = admin_answer("http://x", &answer(503, "{}")).unwrap_err();
        assert_eq!(
            failure.exit_code(),
            crate::failure::exit::AUTHORITY_UNAVAILABLE
        );
        assert_eq!(failure.to_json()["error"]["retry_after"], 30);
    }

    #[test]
    fn a_server_without_the_routes_is_not_a_refusal() {
        let failure = admin_answer("http://x", &answer(404, "not json")).unwrap_err();
        assert_eq!(failure.kind(), "error");
    }
}
