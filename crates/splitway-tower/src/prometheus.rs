//! A small Prometheus HTTP API client: `GET /api/v1/query` and `GET /api/v1/query_range`
//! over one pooled hyper client, each with a timeout and a bounded answer, and the parsing of
//! their JSON answers (vectors, matrices, scalars; `NaN` and `±Inf` values; error answers).
//!
//! Only what the fleet rollouts need (docs/rollouts.md "Many replicas"): no remote write, no
//! metadata endpoints, plain HTTP.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

/// How long one query may take, connection included, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read by default; a longer one is an error ([`QueryError::TooLarge`]).
pub const DEFAULT_MAX_BYTES: usize = 4 << 20;

/// A query parameter's value: everything but unreserved characters escaped.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One series of an answer: its labels and its points `(time, value)`, oldest first (one
/// point for a vector or a scalar).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The labels, in the answer's order (`__name__` included when the answer has it).
    pub labels: Vec<(String, String)>,
    /// `(unix time in seconds, value)`; values may be `NaN` or infinite.
    pub points: Vec<(f64, f64)>,
}

/// Why a query has no answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// No connection, or it broke.
    #[error("Prometheus at {url} cannot be reached: {reason}")]
    Unreachable {
        /// The base URL.
        url: String,
        /// What the client said.
        reason: String,
    },
    /// No answer within the timeout.
    #[error("Prometheus did not answer within {0:?}")]
    Timeout(Duration),
    /// The answer is longer than the bound.
    #[error("Prometheus' answer is longer than {0} bytes")]
    TooLarge(usize),
    /// Prometheus answered `"status": "error"`.
    #[error("Prometheus refused the query ({status}, {error_type}): {error}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// `errorType` (`bad_data`, `timeout`, `execution`, ...).
        error_type: String,
        /// `error`.
        error: String,
    },
    /// Not a Prometheus answer.
    #[error("not a Prometheus answer (HTTP {status}): {reason}")]
    Malformed {
        /// The HTTP status.
        status: u16,
        /// What is wrong with it.
        reason: String,
    },
}

/// A Prometheus server's query API: a cheap-to-clone handle over one pooled client.
#[derive(Debug, Clone)]
pub struct Prometheus {
    client: Client<HttpConnector, Empty<Bytes>>,
    base: String,
    timeout: Duration,
    max_bytes: usize,
}

impl Prometheus {
    /// The API of the server at `base` (`http://prometheus:9090`), with the default timeout
    /// and answer bound.
    pub fn new(base: &str) -> Prometheus {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(DEFAULT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(4)
            .build(connector);
        Prometheus {
            client,
            base: base.trim_end_matches('/').to_owned(),
            timeout: DEFAULT_TIMEOUT,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    /// The same API with another timeout per query and another answer bound.
    pub fn with_limits(mut self, timeout: Duration, max_bytes: usize) -> Prometheus {
        self.timeout = timeout;
        self.max_bytes = max_bytes;
        self
    }

    /// `GET /api/v1/query?query=EXPR` (evaluated now, or at `@` times written in `expr`).
    pub async fn query(&self, expr: &str) -> Result<Vec<Series>, QueryError> {
        self.get(&format!("/api/v1/query?query={}", encode(expr)))
            .await
    }

    /// `GET /api/v1/query_range`: `expr` evaluated at `start`, `start + step`, ... up to
    /// `end`.
    pub async fn query_range(
        &self,
        expr: &str,
        start: SystemTime,
        end: SystemTime,
        step: Duration,
    ) -> Result<Vec<Series>, QueryError> {
        self.get(&format!(
            "/api/v1/query_range?query={}&start={}&end={}&step={}",
            encode(expr),
            unix_seconds(start),
            unix_seconds(end),
            step.as_secs_f64()
        ))
        .await
    }

    async fn get(&self, path_and_query: &str) -> Result<Vec<Series>, QueryError> {
        let unreachable = |reason: String| QueryError::Unreachable {
            url: self.base.clone(),
            reason,
        };
        let uri: Uri = format!("{}{path_and_query}", self.base)
            .parse()
            .map_err(|e| unreachable(format!("bad URL: {e}")))?;
        let request = Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| unreachable(format!("bad request: {e}")))?;
        let max = self.max_bytes;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| unreachable(error_chain(&e)))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), max)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        QueryError::TooLarge(max)
                    } else {
                        unreachable(format!("reading the answer: {e}"))
                    }
                })?
                .to_bytes();
            parse_answer(status, &body)
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| QueryError::Timeout(self.timeout))?
    }
}

/// An error and its sources, `: `-joined (hyper's top error says little alone).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn encode(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// Seconds since the epoch with millisecond precision, as Prometheus reads times.
pub fn unix_seconds(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// Parses a query answer: its series, or the error it states.
pub fn parse_answer(status: StatusCode, body: &[u8]) -> Result<Vec<Series>, QueryError> {
    let malformed = |reason: String| QueryError::Malformed {
        status: status.as_u16(),
        reason,
    };
    let v: Value = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    match v.get("status").and_then(Value::as_str) {
        Some("success") => {}
        Some("error") => {
            let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            return Err(QueryError::Refused {
                status: status.as_u16(),
                error_type: text("errorType"),
                error: text("error"),
            });
        }
        _ => return Err(malformed("no `status`".into())),
    }
    if !status.is_success() {
        return Err(malformed("a success answer with an error status".into()));
    }
    let data = v.get("data").ok_or_else(|| malformed("no `data`".into()))?;
    let result = data
        .get("result")
        .ok_or_else(|| malformed("no `data.result`".into()))?;
    let kind = data.get("resultType").and_then(Value::as_str);
    match kind {
        Some("vector") => result
            .as_array()
            .ok_or_else(|| malformed("a vector that is not a list".into()))?
            .iter()
            .map(|s| {
                let point = s
                    .get("value")
                    .and_then(point)
                    .ok_or_else(|| malformed("a vector sample without a value".into()))?;
                Ok(Series {
                    labels: labels(s),
                    points: vec![point],
                })
            })
            .collect(),
        Some("matrix") => result
            .as_array()
            .ok_or_else(|| malformed("a matrix that is not a list".into()))?
            .iter()
            .map(|s| {
                let points = s
                    .get("values")
                    .and_then(Value::as_array)
                    .ok_or_else(|| malformed("a matrix series without values".into()))?
                    .iter()
                    .map(|p| point(p).ok_or_else(|| malformed("a malformed point".into())))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Series {
                    labels: labels(s),
                    points,
                })
            })
            .collect(),
        Some("scalar") => {
            let p = point(result).ok_or_else(|| malformed("a malformed scalar".into()))?;
            Ok(vec![Series {
                labels: Vec::new(),
                points: vec![p],
            }])
        }
        other => Err(malformed(format!(
            "result type {}",
            other.unwrap_or("missing")
        ))),
    }
}

fn labels(series: &Value) -> Vec<(String, String)> {
    series
        .get("metric")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// `[1700000000.5, "1.25"]`: the value is a string so that `NaN` and `+Inf` survive JSON.
fn point(p: &Value) -> Option<(f64, f64)> {
    let pair = p.as_array()?;
    let (Some(t), Some(v)) = (pair.first(), pair.get(1)) else {
        return None;
    };
    let t = t.as_f64()?;
    let v = v.as_str()?.parse::<f64>().ok()?;
    Some((t, v))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Answers recorded from Prometheus 2.42 (`tests/data/prometheus/`).
    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/data/prometheus/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap()
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn a_vector_gives_one_point_a_series() {
        let s = parse_answer(StatusCode::OK, &fixture("vector.json")).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].labels, [pair("code", "200")]);
        assert_eq!(s[0].points, [(1_796_165_470.455, 3.006012024048096)]);
        assert_eq!(s[1].labels, [pair("code", "400")]);
        assert_eq!(s[1].points, [(1_796_165_470.455, 0.0)]);
    }

    #[test]
    fn a_matrix_gives_every_step() {
        let s = parse_answer(StatusCode::OK, &fixture("matrix.json")).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].labels, []);
        assert_eq!(
            s[0].points,
            [
                (1_796_165_466.0, 2.004008016032064),
                (1_796_165_468.0, 1.9920318725099602),
                (1_796_165_470.0, 2.0),
            ]
        );
    }

    #[test]
    fn empty_results_nan_and_infinities() {
        assert_eq!(
            parse_answer(StatusCode::OK, &fixture("empty.json")).unwrap(),
            []
        );
        // histogram_quantile over buckets that saw nothing: NaN.
        let s = parse_answer(StatusCode::OK, &fixture("nan.json")).unwrap();
        assert_eq!(s[0].labels, [pair("handler", "/api/v1/query")]);
        assert!(s[0].points[0].1.is_nan());
        assert_eq!(s[1].points, [(1_796_165_465.896, 0.099)]);
        let scalar = parse_answer(StatusCode::OK, &fixture("scalar.json")).unwrap();
        assert_eq!(scalar[0].points, [(1_796_165_470.574, 2.0)]);
        // A rank in the +Inf bucket.
        assert_eq!(
            point(&serde_json::json!([1.5, "+Inf"])),
            Some((1.5, f64::INFINITY))
        );
        assert_eq!(point(&serde_json::json!([1.5, 2.0])), None);
    }

    #[test]
    fn error_answers_say_why() {
        let e = parse_answer(StatusCode::BAD_REQUEST, &fixture("error.json")).unwrap_err();
        assert_eq!(
            e,
            QueryError::Refused {
                status: 400,
                error_type: "bad_data".into(),
                error: "invalid parameter \"query\": 1:31: parse error: unclosed left parenthesis"
                    .into()
            }
        );
        let e = parse_answer(StatusCode::SERVICE_UNAVAILABLE, b"Service Unavailable").unwrap_err();
        assert!(
            matches!(e, QueryError::Malformed { status: 503, .. }),
            "{e:?}"
        );
        let e = parse_answer(
            StatusCode::OK,
            br#"{"status":"success","data":{"resultType":"string","result":[1,"x"]}}"#,
        )
        .unwrap_err();
        assert!(matches!(e, QueryError::Malformed { .. }), "{e:?}");
        let e = parse_answer(
            StatusCode::OK,
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}"#,
        )
        .unwrap_err();
        assert!(matches!(e, QueryError::Malformed { .. }), "{e:?}");
        // The oversized recording parses when read whole: the bound is what refuses it.
        let all = parse_answer(StatusCode::OK, &fixture("oversized.json")).unwrap();
        assert!(all.len() > 100, "{}", all.len());
    }

    /// A real socket: a server that answers more than the bound is cut off with
    /// `TooLarge`; one that does not answer in time with `Timeout`.
    #[tokio::test]
    async fn oversized_and_silent_servers() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let big = fixture("oversized.json");
        assert!(big.len() > 4096);
        let server = tokio::spawn(async move {
            for silent in [false, true] {
                let (mut conn, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                if silent {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    continue;
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    big.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(&big).await;
            }
        });
        let api = Prometheus::new(&format!("http://{addr}"))
            .with_limits(Duration::from_millis(500), 4096);
        assert_eq!(api.query("up").await, Err(QueryError::TooLarge(4096)));
        // A bound above its length reads it whole (fresh connection: the last one was cut).
        let roomy = Prometheus::new(&format!("http://{addr}"))
            .with_limits(Duration::from_millis(500), 1 << 20);
        assert_eq!(
            roomy.query("up").await,
            Err(QueryError::Timeout(Duration::from_millis(500)))
        );
        server.abort();
        let closed = Prometheus::new(&format!("http://{addr}"))
            .with_limits(Duration::from_millis(500), 4096);
        assert!(matches!(
            closed.query("up").await,
            Err(QueryError::Unreachable { .. })
        ));
    }

    #[test]
    fn the_parameters_are_escaped() {
        assert_eq!(
            encode(r#"sum(x{a="b"}[2s] @ 1.5)"#),
            "sum%28x%7Ba%3D%22b%22%7D%5B2s%5D%20%40%201.5%29"
        );
        assert_eq!(
            unix_seconds(UNIX_EPOCH + Duration::from_millis(1_764_633_600_250)),
            "1764633600.250"
        );
    }
}
