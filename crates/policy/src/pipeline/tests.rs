use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};

use super::*;
use crate::{RequestBody, RequestCtx};

/// Records calls into a shared log and answers as configured.
struct Probe {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
    fail: bool,
    response_phase: bool,
}

#[async_trait]
impl Policy for Probe {
    fn kind(&self) -> &'static str {
        self.name
    }
    async fn on_request(&self, _ex: &mut Exchange) -> Result<Decision, GatewayError> {
        self.log.lock().unwrap().push(format!("req:{}", self.name));
        if self.fail {
            Err(GatewayError::access_denied())
        } else {
            Ok(Decision::Continue)
        }
    }
    async fn on_response(&self, _ex: &mut Exchange) -> Result<Decision, GatewayError> {
        self.log.lock().unwrap().push(format!("resp:{}", self.name));
        Ok(Decision::Continue)
    }
    fn has_response_phase(&self) -> bool {
        self.response_phase
    }
}

fn exchange() -> Exchange {
    let (parts, ()) = http::Request::new(()).into_parts();
    Exchange {
        request: parts,
        body: RequestBody::Streaming(Empty::<Bytes>::new().map_err(|e| match e {}).boxed_unsync()),
        response: None,
        ctx: RequestCtx {
            request_id: "r1".into(),
            client_ip: [127, 0, 0, 1].into(),
            environment: "default".into(),
            api: "api".into(),
            base_path: "/".into(),
            flow: None,
            path: "/".into(),
            identity: None,
            received_at: Instant::now(),
            events: Vec::new(),
            origin: None,
        },
    }
}

fn entry(
    log: &Arc<Mutex<Vec<String>>>,
    name: &'static str,
    fail: bool,
    mode: Mode,
) -> PipelineEntry {
    PipelineEntry {
        policy: Arc::new(Probe {
            name,
            log: log.clone(),
            fail,
            response_phase: true,
        }),
        mode,
    }
}

#[tokio::test]
async fn runs_in_order_and_unwinds_onion() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let p = Pipeline::new(
        vec![
            entry(&log, "a", false, Mode::Enforce),
            entry(&log, "b", false, Mode::Enforce),
        ],
        vec![entry(&log, "c", false, Mode::Enforce)],
    );
    let mut ex = exchange();
    let (out, ran) = p.run_request(&mut ex).await;
    assert!(matches!(out, RequestOutcome::Forward));
    assert_eq!(ran, 2);
    assert!(p.run_response(&mut ex, ran, true).await.is_none());
    assert_eq!(
        *log.lock().unwrap(),
        ["req:a", "req:b", "resp:b", "resp:a", "resp:c"]
    );
}

#[tokio::test]
async fn enforce_failure_short_circuits() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let p = Pipeline::new(
        vec![
            entry(&log, "a", false, Mode::Enforce),
            entry(&log, "deny", true, Mode::Enforce),
            entry(&log, "never", false, Mode::Enforce),
        ],
        vec![entry(&log, "resp-only", false, Mode::Enforce)],
    );
    let mut ex = exchange();
    let (out, ran) = p.run_request(&mut ex).await;
    match out {
        RequestOutcome::Fail(e) => assert_eq!(e.code(), "access.denied"),
        other => panic!("expected failure, got {other:?}"),
    }
    assert_eq!(ran, 2);
    p.run_response(&mut ex, ran, false).await;
    assert_eq!(
        *log.lock().unwrap(),
        ["req:a", "req:deny", "resp:deny", "resp:a"]
    );
}

#[tokio::test]
async fn monitor_mode_records_and_continues() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let p = Pipeline::new(
        vec![
            entry(&log, "deny", true, Mode::Monitor),
            entry(&log, "after", false, Mode::Enforce),
        ],
        vec![],
    );
    let mut ex = exchange();
    let (out, _) = p.run_request(&mut ex).await;
    assert!(matches!(out, RequestOutcome::Forward));
    assert_eq!(ex.ctx.events.len(), 1);
    assert_eq!(ex.ctx.events[0].code, "access.denied");
    assert_eq!(ex.ctx.events[0].mode, Mode::Monitor);
    assert!(log.lock().unwrap().contains(&"req:after".to_string()));
}
