//! The HTTP/1.1 framing the proxy reads from its servers (`splitway_proxy::h1`, public with the
//! `internals` feature) on raw server bytes: the response head (past any 1xx but a 101), then
//! its body. No panic; a decoder that asks for more bytes asks again, unmoved; the body's data
//! is never longer than the bytes sent; and the outcome (status, data, trailers, how it ended)
//! is the same whether the bytes arrive all at once or a few at a time.
//!
//! Input: one byte for the request's method (odd: `HEAD`, else `GET`), one for the size of
//! the pieces (1-256), then the server's bytes.
#![no_main]

use std::mem::{Discriminant, discriminant};

use bytes::BytesMut;
use http::{HeaderMap, Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use splitway_proxy::h1::{self, Decoded, Decoder, H1Error};

#[derive(Debug, PartialEq)]
enum End {
    /// The bytes ended before a whole head.
    NoHead,
    /// The head (or its framing) was refused.
    BadHead(Discriminant<H1Error>),
    /// The body ended where its framing says.
    Done,
    /// The bytes ended within the body; whether that ends it (a body up to the close).
    Closed(bool),
    /// The body's framing was refused.
    BadBody(Discriminant<H1Error>),
}

#[derive(Debug, PartialEq)]
struct Outcome {
    status: Option<StatusCode>,
    data: Vec<u8>,
    trailers: Option<http::HeaderMap>,
    end: End,
}

fn read(wire: &[u8], method: &Method, step: usize) -> Outcome {
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut feed = |buf: &mut BytesMut| {
        if fed >= wire.len() {
            return false;
        }
        let to = (fed + step).min(wire.len());
        buf.extend_from_slice(&wire[fed..to]);
        fed = to;
        true
    };
    let mut outcome = Outcome {
        status: None,
        data: Vec::new(),
        trailers: None,
        end: End::NoHead,
    };
    let head = loop {
        match h1::parse_head(&mut buf, &mut HeaderMap::new()) {
            Ok(Some(head))
                if head.response.status().is_informational()
                    && head.response.status() != StatusCode::SWITCHING_PROTOCOLS => {}
            Ok(Some(head)) => break head,
            Ok(None) => {
                if !feed(&mut buf) {
                    return outcome;
                }
            }
            Err(e) => {
                outcome.end = End::BadHead(discriminant(&e));
                return outcome;
            }
        }
    };
    outcome.status = Some(head.response.status());
    let framing = match head.framing(method) {
        Ok(framing) => framing,
        Err(e) => {
            outcome.end = End::BadHead(discriminant(&e));
            return outcome;
        }
    };
    let mut decoder = Decoder::new(framing);
    loop {
        match decoder.decode(&mut buf) {
            Ok(Decoded::Data(data)) => {
                assert!(!data.is_empty(), "an empty data frame");
                outcome.data.extend_from_slice(&data);
            }
            Ok(Decoded::Trailers(trailers)) => outcome.trailers = Some(trailers),
            Ok(Decoded::End) => {
                assert!(decoder.is_done());
                outcome.end = End::Done;
                break;
            }
            Ok(Decoded::More) => {
                // It may have taken framing bytes first; asked again, it must stay put.
                let settled = (buf.clone(), decoder.clone());
                assert_eq!(decoder.decode(&mut buf), Ok(Decoded::More));
                assert_eq!((buf.clone(), decoder.clone()), settled, "asked for more twice, yet moved");
                if !feed(&mut buf) {
                    outcome.end = End::Closed(decoder.closed().is_ok());
                    break;
                }
            }
            Err(e) => {
                outcome.end = End::BadBody(discriminant(&e));
                break;
            }
        }
    }
    assert!(outcome.data.len() <= wire.len());
    outcome
}

fuzz_target!(|input: &[u8]| {
    let [method, step, wire @ ..] = input else {
        return;
    };
    let method = if method % 2 == 1 {
        Method::HEAD
    } else {
        Method::GET
    };
    let step = usize::from(*step) + 1;
    let whole = read(wire, &method, wire.len().max(1));
    let pieces = read(wire, &method, step);
    assert_eq!(whole, pieces, "all at once vs {step} bytes at a time");
});
