//! AWS Signature Version 4, verified: the request's canonical form and string to sign are
//! rebuilt as the signer built them ("Create a signed AWS API request" in the IAM guide), the
//! signature recomputed with the secret, and the two compared in constant time (the HMAC
//! crate's `verify_slice`).
//!
//! Only the `Authorization` header form is read (what every SDK sends to SQS); a presigned
//! query string is not. The payload hash is always the body's own SHA-256, so a request signed
//! with `UNSIGNED-PAYLOAD` does not verify. The canonical URI encodes the path as received
//! once more, as SDKs do for every service but S3 (no dot-segment normalisation: SQS requests
//! are all `POST /`).

use super::error::{Code, SqsError};
use super::text::{hex, unhex};
use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The one algorithm accepted.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a request's `X-Amz-Date` may be from the server's clock.
pub(crate) const MAX_SKEW_SECONDS: i64 = 15 * 60;
/// The service every credential scope must name.
const SERVICE: &str = "sqs";

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authorization {
    pub key_id: String,
    /// `YYYYMMDD` of the credential scope.
    pub date: String,
    pub region: String,
    pub service: String,
    /// Lowercase names, as listed.
    pub signed_headers: Vec<String>,
    /// The signature's 32 bytes.
    pub signature: Vec<u8>,
}

fn incomplete(what: &str) -> SqsError {
    SqsError::new(
        Code::IncompleteSignature,
        format!("The request signature is incomplete: {what}."),
    )
}

/// Reads an `Authorization` header value.
pub(crate) fn parse_authorization(value: &str) -> Result<Authorization, SqsError> {
    let (algorithm, rest) = value.trim().split_once(' ').ok_or_else(|| {
        incomplete("expected AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...")
    })?;
    if algorithm != ALGORITHM {
        return Err(incomplete(&format!(
            "unsupported algorithm, expected {ALGORITHM}"
        )));
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| incomplete("each part must be Name=value"))?;
        match key {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let credential = credential.ok_or_else(|| incomplete("Credential is missing"))?;
    let signed = signed.ok_or_else(|| incomplete("SignedHeaders is missing"))?;
    let signature = signature.ok_or_else(|| incomplete("Signature is missing"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(incomplete(
            "Credential must be KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request",
        ));
    };
    if key_id.is_empty() || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(incomplete(
            "Credential must be KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request",
        ));
    }
    let signed_headers: Vec<String> = signed
        .split(';')
        .filter(|name| !name.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    // The action and the time are signed too: unsigned, a captured request could be replayed
    // within the date window as another action with the same body (PurgeQueue for a
    // GetQueueAttributes). The AWS SDKs sign both.
    for required in ["host", "x-amz-date", "x-amz-target"] {
        if !signed_headers.iter().any(|name| name == required) {
            return Err(incomplete(&format!(
                "SignedHeaders must include {required}"
            )));
        }
    }
    let signature = unhex(signature)
        .filter(|bytes| bytes.len() == 32)
        .ok_or_else(|| incomplete("Signature must be 64 hexadecimal digits"))?;
    Ok(Authorization {
        key_id: (*key_id).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers,
        signature,
    })
}

/// What of a request its signature covers.
#[derive(Debug)]
pub(crate) struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path as received (still percent-encoded).
    pub path: &'a str,
    /// The query string as received, without `?`.
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Checks `X-Amz-Date` against the credential scope and the clock, then the signature against
/// `secret`. Errors: IncompleteSignature (no `X-Amz-Date`, or a scope not for SQS),
/// RequestExpired (more than 15 minutes off), SignatureDoesNotMatch.
pub(crate) fn verify(
    auth: &Authorization,
    request: &SignedRequest<'_>,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<(), SqsError> {
    let amz_date = request
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| incomplete("the X-Amz-Date header is missing"))?;
    let signed_at = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| incomplete("X-Amz-Date must be YYYYMMDDTHHMMSSZ"))?
        .and_utc();
    if (now - signed_at).num_seconds().abs() > MAX_SKEW_SECONDS {
        return Err(SqsError::new(
            Code::RequestExpired,
            format!(
                "Signature expired: {amz_date} is more than 15 minutes from the server's time {}.",
                now.format("%Y%m%dT%H%M%SZ")
            ),
        ));
    }
    if !amz_date.starts_with(&auth.date) {
        return Err(mismatch("the credential scope's date is not X-Amz-Date's"));
    }
    if auth.service != SERVICE {
        return Err(incomplete("the credential scope must name the service sqs"));
    }
    let canonical = canonical_request(request, &auth.signed_headers)?;
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let to_sign = string_to_sign(amz_date, &scope, &canonical);
    let key = signing_key(secret, &auth.date, &auth.region, &auth.service);
    let mut mac = mac(&key);
    mac.update(to_sign.as_bytes());
    mac.verify_slice(&auth.signature).map_err(|_| {
        mismatch(
            "the request signature we calculated does not match the signature you provided; \
             check your AWS secret access key and signing method",
        )
    })
}

fn mismatch(why: &str) -> SqsError {
    SqsError::new(
        Code::SignatureDoesNotMatch,
        format!("Signature does not match: {why}."),
    )
}

/// The canonical request: method, canonical URI, canonical query, the signed headers' names
/// and values, their list and the payload's hash, one per line.
pub(crate) fn canonical_request(
    request: &SignedRequest<'_>,
    signed_headers: &[String],
) -> Result<String, SqsError> {
    let mut names: Vec<&str> = signed_headers.iter().map(String::as_str).collect();
    names.sort_unstable();
    names.dedup();
    let mut headers = String::new();
    for name in &names {
        let mut values = Vec::new();
        for value in request.headers.get_all(*name) {
            let text = value
                .to_str()
                .map_err(|_| mismatch(&format!("header {name} is not text")))?;
            values.push(text.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        if values.is_empty() {
            return Err(mismatch(&format!(
                "signed header {name} is not in the request"
            )));
        }
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&values.join(","));
        headers.push('\n');
    }
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        encode(request.path.as_bytes(), true),
        canonical_query(request.query),
        headers,
        names.join(";"),
        hex(&Sha256::digest(request.body))
    ))
}

/// The string to sign for a canonical request.
pub(crate) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    )
}

/// The signing key: HMAC-SHA256 chained over date, region, service and `aws4_request`, keyed
/// first by `AWS4` and the secret.
pub(crate) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in [date, region, service, "aws4_request"] {
        let mut step = mac(&key);
        step.update(part.as_bytes());
        key = step.finalize().into_bytes().to_vec();
    }
    key
}

/// The hex signature of `to_sign` under `key` (the tests' signer, and the SigV4 vectors').
#[cfg(test)]
pub(crate) fn signature(key: &[u8], to_sign: &str) -> String {
    let mut step = mac(key);
    step.update(to_sign.as_bytes());
    hex(&step.finalize().into_bytes())
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length: hashed when longer than a block, padded when shorter.
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

/// The canonical query string: each name and value percent-decoded and encoded again the AWS
/// way, sorted by name, then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                encode(&percent_decode(name), false),
                encode(&percent_decode(value), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// AWS's URI encoding: unreserved characters (`A-Z a-z 0-9 - _ . ~`) as they are, `/` too when
/// `keep_slash`, every other byte as `%XX` in uppercase hex.
fn encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut text = String::with_capacity(bytes.len());
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) || (keep_slash && byte == b'/') {
            text.push(char::from(byte));
        } else {
            text.push_str(&format!("%{byte:02X}"));
        }
    }
    text
}

/// `%XX` sequences as bytes; anything else as it is.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod unit {
    use super::*;
    use axum::http::HeaderValue;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const AMZ_DATE: &str = "20150830T123600Z";

    fn at(amz_date: &str) -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
            .map(|t| t.and_utc())
            .unwrap_or_default()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(value) {
                map.append(*name, value);
            }
        }
        map
    }

    /// The signature a signer would send for this request (scope region us-east-1).
    fn sign(request: &SignedRequest<'_>, signed: &[&str], service: &str) -> String {
        let signed: Vec<String> = signed.iter().map(|s| (*s).to_owned()).collect();
        let canonical = canonical_request(request, &signed).unwrap_or_default();
        let scope = format!("20150830/us-east-1/{service}/aws4_request");
        let key = signing_key(SECRET, "20150830", "us-east-1", service);
        signature(&key, &string_to_sign(AMZ_DATE, &scope, &canonical))
    }

    #[test]
    fn the_signing_key_matches_the_iam_guides_example() {
        // "Examples of how to derive a signing key for Signature Version 4".
        let key = signing_key(SECRET, "20120215", "us-east-1", "iam");
        assert_eq!(
            hex(&key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn signatures_match_the_aws_sigv4_test_suite() {
        let map = headers(&[("host", "example.amazonaws.com"), ("x-amz-date", AMZ_DATE)]);
        // get-vanilla
        let request = SignedRequest {
            method: "GET",
            path: "/",
            query: "",
            headers: &map,
            body: b"",
        };
        assert_eq!(
            sign(&request, &["host", "x-amz-date"], "service"),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        // get-vanilla-query-order-key-case: parameters sorted.
        let request = SignedRequest {
            query: "Param2=value2&Param1=value1",
            ..request
        };
        assert_eq!(
            sign(&request, &["host", "x-amz-date"], "service"),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        );
    }

    // The expected signatures below were computed with botocore's own SigV4Auth (1.44.8) for
    // the same request (its URL as sent on the wire: `/example%20space/`, whose `%` the
    // canonical URI encodes again) at 2015-08-30T12:36:00Z with the secret above.
    #[test]
    fn signatures_match_botocore_for_spaces_in_paths_queries_and_headers() {
        let map = headers(&[
            ("host", "example.amazonaws.com"),
            ("x-amz-date", AMZ_DATE),
            ("my-header1", "  value1   with  spaces "),
        ]);
        let request = SignedRequest {
            method: "GET",
            path: "/example%20space/",
            query: "",
            headers: &map,
            body: b"",
        };
        assert_eq!(
            sign(&request, &["host", "x-amz-date"], "service"),
            "446b817944c553435b35e813c261ff4e161fff982d1bacdef1c87f6785dd1662"
        );
        let request = SignedRequest {
            path: "/",
            query: "Param1=value%20with%20space&a=%2F",
            ..request
        };
        assert_eq!(
            sign(&request, &["host", "my-header1", "x-amz-date"], "service"),
            "7591d5a38b0f75a1c94dfb1ed3a073ce570ed9cc4117c1199bb0f5fbb73f6494"
        );
    }

    fn sqs_request(map: &HeaderMap) -> SignedRequest<'_> {
        SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: map,
            body: br#"{"QueueName":"orders"}"#,
        }
    }

    fn sqs_headers() -> HeaderMap {
        headers(&[
            ("host", "127.0.0.1:8000"),
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "AmazonSQS.CreateQueue"),
            ("x-amz-date", AMZ_DATE),
        ])
    }

    const SQS_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sqs/aws4_request, \
        SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
        Signature=113cda12454739ade10617b285e13d81347c49fb65df7130befaa51da0dd93c0";

    #[test]
    fn a_botocore_signed_sqs_request_verifies_and_a_changed_one_does_not() {
        let map = sqs_headers();
        let auth = parse_authorization(SQS_AUTHORIZATION);
        let Ok(auth) = auth else {
            panic!("{auth:?}");
        };
        assert_eq!(auth.key_id, "AKIDEXAMPLE");
        assert_eq!(auth.region, "us-east-1");
        let request = sqs_request(&map);
        assert_eq!(verify(&auth, &request, SECRET, at(AMZ_DATE)), Ok(()));
        // Within the skew either way, but not beyond.
        assert_eq!(
            verify(&auth, &request, SECRET, at("20150830T125000Z")),
            Ok(())
        );
        assert_eq!(
            verify(&auth, &request, SECRET, at("20150830T125200Z")).map_err(|e| e.code),
            Err(Code::RequestExpired)
        );
        assert_eq!(
            verify(&auth, &request, "wrong", at(AMZ_DATE)).map_err(|e| e.code),
            Err(Code::SignatureDoesNotMatch)
        );
        let tampered = SignedRequest {
            body: br#"{"QueueName":"other"}"#,
            ..sqs_request(&map)
        };
        assert_eq!(
            verify(&auth, &tampered, SECRET, at(AMZ_DATE)).map_err(|e| e.code),
            Err(Code::SignatureDoesNotMatch)
        );
        let mut other_target = sqs_headers();
        other_target.insert(
            "x-amz-target",
            HeaderValue::from_static("AmazonSQS.DeleteQueue"),
        );
        assert_eq!(
            verify(&auth, &sqs_request(&other_target), SECRET, at(AMZ_DATE)).map_err(|e| e.code),
            Err(Code::SignatureDoesNotMatch)
        );
    }

    #[test]
    fn malformed_authorization_headers_are_incomplete() {
        for bad in [
            "",
            "Bearer pqq_x",
            "AWS4-HMAC-SHA1 Credential=A/20150830/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=A/2015/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/sqs/aws4_request, SignedHeaders=x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=zz",
        ] {
            assert_eq!(
                parse_authorization(bad).map_err(|e| e.code),
                Err(Code::IncompleteSignature),
                "{bad}"
            );
        }
    }
}
