//! Names on the SQS wire: queue URLs, queue ARNs, receipt handles and list tokens.
//!
//! - A queue URL is `http://<Host header>/000000000000/<queue>`; any URL whose last path
//!   segment is a queue's name names that queue (so URLs made for another host still work).
//! - A queue ARN is `arn:aws:sqs:<PSQLQUEUE_SQS_REGION>:000000000000:<queue>`; any ARN whose
//!   last `:`-separated part is a queue's name names it.
//! - A receipt handle is base64url (no padding) of `<message id>:<receipt>`: DeleteMessage and
//!   ChangeMessageVisibility name only the queue and the handle, and the extension's ack,
//!   nack and extend need both the message's id and the lease's receipt.
//! - A NextToken is base64url of the last name of the page: the next page is the one after it
//!   (find_queues' keyset).

use super::error::{Code, SqsError};
use super::text::shorten;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The account id in every URL and ARN.
pub(crate) const ACCOUNT: &str = "000000000000";

/// The queue URL of `name` as seen by a client that called `host`.
pub(crate) fn queue_url(host: &str, name: &str) -> String {
    format!("http://{host}/{ACCOUNT}/{name}")
}

/// The queue a queue URL names: its last path segment (query and fragment ignored).
pub(crate) fn queue_name(url: &str) -> Result<String, SqsError> {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    // Without a scheme the whole text is a path (`/000000000000/orders`, or just `orders`).
    let path = match path.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, p)| p),
        None => path,
    };
    match path.trim_end_matches('/').rsplit('/').next() {
        Some(name) if !name.is_empty() => Ok(name.to_owned()),
        _ => Err(SqsError::new(
            Code::InvalidAddress,
            format!("The address {url} is not valid for this endpoint."),
        )),
    }
}

/// The ARN of queue `name`.
pub(crate) fn queue_arn(region: &str, name: &str) -> String {
    format!("arn:aws:sqs:{region}:{ACCOUNT}:{name}")
}

/// The queue an ARN names: its last `:`-separated part, for an ARN of SQS.
pub(crate) fn arn_queue(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "sqs", _, _, name] if !name.is_empty() => Some((*name).to_owned()),
        _ => None,
    }
}

/// The receipt handle of a delivery.
pub(crate) fn receipt_handle(message_id: &str, receipt: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{message_id}:{receipt}"))
}

/// The message id and receipt a receipt handle carries; ReceiptHandleIsInvalid when it is not
/// one this server made.
pub(crate) fn parse_receipt_handle(handle: &str) -> Result<(String, String), SqsError> {
    let invalid = || {
        SqsError::new(
            Code::ReceiptHandleIsInvalid,
            format!(
                "The input receipt handle \"{}\" is not a valid receipt handle.",
                shorten(handle)
            ),
        )
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(handle.trim_end_matches('='))
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    match text.split_once(':') {
        Some((id, receipt)) if !id.is_empty() && !receipt.is_empty() && !receipt.contains(':') => {
            Ok((id.to_owned(), receipt.to_owned()))
        }
        _ => Err(invalid()),
    }
}

/// A list page's NextToken, after `name`.
pub(crate) fn next_token(name: &str) -> String {
    URL_SAFE_NO_PAD.encode(name)
}

/// The name a NextToken continues after.
pub(crate) fn parse_next_token(token: &str) -> Result<String, SqsError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|name| !name.is_empty())
        .ok_or_else(|| SqsError::invalid(format!("Invalid NextToken value {}.", shorten(token))))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn any_url_ending_in_the_name_names_the_queue() {
        for url in [
            "http://localhost:8000/000000000000/orders",
            "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
            "http://h/000000000000/orders/",
            "http://h/000000000000/orders?x=1",
            "/000000000000/orders",
            "orders",
        ] {
            assert_eq!(queue_name(url), Ok("orders".to_owned()), "{url}");
        }
        for url in ["", "http://h", "http://h/", "/"] {
            assert_eq!(
                queue_name(url).map_err(|e| e.code),
                Err(Code::InvalidAddress),
                "{url}"
            );
        }
    }

    #[test]
    fn arns_round_trip() {
        let arn = queue_arn("eu-west-3", "dlq.fifo");
        assert_eq!(arn, "arn:aws:sqs:eu-west-3:000000000000:dlq.fifo");
        assert_eq!(arn_queue(&arn), Some("dlq.fifo".to_owned()));
        assert_eq!(arn_queue("arn:aws:sns:us-east-1:1:topic"), None);
        assert_eq!(arn_queue("orders"), None);
    }

    #[test]
    fn receipt_handles_round_trip_and_garbage_is_invalid() {
        let handle = receipt_handle(
            "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "0123456789abcdef0123456789abcdef",
        );
        assert_eq!(
            parse_receipt_handle(&handle),
            Ok((
                "01ARZ3NDEKTSV4RRFFQ69G5FAV".to_owned(),
                "0123456789abcdef0123456789abcdef".to_owned()
            ))
        );
        for bad in [
            "",
            "!!!",
            "bm9jb2xvbg",
            &URL_SAFE_NO_PAD.encode(":x"),
            &URL_SAFE_NO_PAD.encode("x:"),
        ] {
            assert_eq!(
                parse_receipt_handle(bad).map_err(|e| e.code),
                Err(Code::ReceiptHandleIsInvalid),
                "{bad}"
            );
        }
    }

    #[test]
    fn next_tokens_round_trip() {
        assert_eq!(parse_next_token(&next_token("q-42")), Ok("q-42".to_owned()));
        assert!(parse_next_token("***").is_err());
        assert!(parse_next_token("").is_err());
    }
}
