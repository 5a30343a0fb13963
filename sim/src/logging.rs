//! Server events in simulation, through `tracing-subscriber`: every `om_server` event (votes,
//! appends, truncations, purges, applies, flushes, snapshots built and installed) becomes a line
//! of the run's [`Trace`] (so the fingerprint covers what the servers did, and `--trace` shows
//! it), and with `RUST_LOG` set every crate's events print with the simulated time and the node
//! name (`om2`, `client3`) in front.
//!
//! The node name comes from madsim's current task (its node id, named by the harness when it
//! creates a host): madsim's own `node` span would name it too, but enabling madsim's spans
//! costs a span enter and exit on every task poll.

use crate::trace::Trace;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// The run simulated on this thread (madsim runs a simulation on the thread that calls
/// `block_on`, so parallel tests each capture into their own run).
#[derive(Default)]
struct Capture {
    trace: Option<Trace>,
    /// madsim's node id (as text: the type exists only under `--cfg madsim`) -> name.
    names: BTreeMap<String, String>,
    /// Called with (node name, message) on every server event, inside the event.
    hook: Option<std::rc::Rc<EventHook>>,
}

type EventHook = dyn Fn(&str, &str);

thread_local! {
    static CAPTURE: RefCell<Capture> = RefCell::new(Capture::default());
}

/// Server events on this thread go into `trace` until the guard drops.
pub fn capture_into(trace: &Trace) -> CaptureGuard {
    CAPTURE.with(|capture| {
        *capture.borrow_mut() = Capture {
            trace: Some(trace.clone()),
            ..Capture::default()
        }
    });
    CaptureGuard(())
}

pub struct CaptureGuard(());

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CAPTURE.with(|capture| *capture.borrow_mut() = Capture::default());
    }
}

/// Calls `hook` with the node's name and the message of every server event of this run, at the
/// moment the server emits it (a check that must look at the node right then).
pub fn on_server_event(hook: impl Fn(&str, &str) + 'static) {
    CAPTURE.with(|capture| capture.borrow_mut().hook = Some(std::rc::Rc::new(hook)));
}

/// Names the simulated host `id` in log lines and trace lines of this run.
pub fn name_node(id: impl std::fmt::Display, name: &str) {
    CAPTURE.with(|capture| (capture.borrow_mut().names).insert(id.to_string(), name.to_string()));
}

/// The simulated time and the name of the node running the current task, inside a simulation.
fn whereabouts() -> Option<(std::time::Duration, String)> {
    #[cfg(madsim)]
    {
        let time = madsim::time::TimeHandle::try_current()?.elapsed();
        let node = madsim::plugin::node().to_string();
        let name = CAPTURE.with(|capture| capture.borrow().names.get(&node).cloned());
        Some((time, name.unwrap_or_else(|| format!("node{node}"))))
    }
    #[cfg(not(madsim))]
    None
}

/// An event's message followed by its other fields (`key=value`), as one line.
#[derive(Default)]
struct EventText {
    message: String,
    fields: String,
}

impl Visit for EventText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _infallible = write!(self.message, "{value:?}");
        } else {
            let _infallible = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _infallible = write!(self.fields, " {}={value}", field.name());
        }
    }
}

/// Copies server events into the current run's trace.
struct ServerEvents;

impl<S: Subscriber> Layer<S> for ServerEvents {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let Some((time, node)) = whereabouts() else {
            return;
        };
        let Some((trace, hook)) = CAPTURE.with(|capture| {
            let capture = capture.borrow();
            Some((capture.trace.clone()?, capture.hook.clone()))
        }) else {
            return;
        };
        let mut text = EventText::default();
        event.record(&mut text);
        trace.record(time, &node, format_args!("{}{}", text.message, text.fields));
        if let Some(hook) = hook {
            hook(&node, &text.message);
        }
    }
}

/// `RUST_LOG` output: simulated time, level, node, target, fields.
struct SimulatedFormat;

impl<S, N> FormatEvent<S, N> for SimulatedFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let (time, node) = match whereabouts() {
            Some((time, node)) => (format!("{:>12.6}", time.as_secs_f64()), node),
            None => (format!("{:>12}", "-"), "-".to_string()),
        };
        let metadata = event.metadata();
        write!(
            writer,
            "{time} {:>5} {node:<8} {}: ",
            metadata.level(),
            metadata.target()
        )?;
        context
            .field_format()
            .format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Installs the subscriber for this process (once; later calls do nothing): server events into
/// the current run's trace, and `RUST_LOG` output to stdout when it is set.
pub fn install() {
    // Off unless asked for: a missing layer would count as interested in every callsite, and
    // openraft's spans would then be built (and cost) on every call.
    #[allow(clippy::disallowed_methods)] // the user's log filter, read once at start
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "off".to_string());
    let printing = tracing_subscriber::fmt::layer()
        .event_format(SimulatedFormat)
        .with_writer(std::io::stdout)
        .with_filter(EnvFilter::new(filter));
    let server_events =
        ServerEvents.with_filter(Targets::new().with_target("om_server", Level::DEBUG));
    let _already_installed = tracing_subscriber::registry()
        .with(server_events)
        .with(printing)
        .try_init();
}
