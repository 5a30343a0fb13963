//! The network's cuts, counted per directed link: overlapping partitions that share a link
//! heal independently (the link opens when the last one releases it).

use madsim::task::NodeId as HostId;
use std::collections::BTreeMap;

/// A directed link: messages from the first host to the second.
pub type Link = (HostId, HostId);

#[derive(Default)]
pub struct Network {
    held: BTreeMap<Link, u32>,
    /// Latency spikes in force; the default latency returns when the last one ends.
    spikes: u32,
}

impl Network {
    pub fn hold(&mut self, links: &[Link]) {
        let network = madsim::net::NetSim::current();
        for &(from, to) in links {
            let count = self.held.entry((from, to)).or_insert(0);
            if *count == 0 {
                network.clog_link(from, to);
            }
            *count += 1;
        }
    }

    pub fn release(&mut self, links: &[Link]) {
        let network = madsim::net::NetSim::current();
        for link in links {
            let Some(count) = self.held.get_mut(link) else {
                continue;
            };
            *count -= 1;
            if *count == 0 {
                self.held.remove(link);
                network.unclog_link(link.0, link.1);
            }
        }
    }

    pub fn spike(&mut self, min_ms: u64, max_ms: u64) {
        self.spikes += 1;
        set_latency(min_ms, max_ms);
    }

    pub fn end_spike(&mut self) {
        self.spikes = self.spikes.saturating_sub(1);
        if self.spikes == 0 {
            set_latency(DEFAULT_LATENCY_MS.0, DEFAULT_LATENCY_MS.1);
        }
    }

    /// Every link open, latency back to normal.
    pub fn heal_all(&mut self) {
        let network = madsim::net::NetSim::current();
        for (from, to) in std::mem::take(&mut self.held).into_keys() {
            network.unclog_link(from, to);
        }
        self.spikes = 0;
        set_latency(DEFAULT_LATENCY_MS.0, DEFAULT_LATENCY_MS.1);
    }

    pub fn held_links(&self) -> usize {
        self.held.len()
    }
}

/// madsim's default send latency range.
const DEFAULT_LATENCY_MS: (u64, u64) = (1, 10);

fn set_latency(min_ms: u64, max_ms: u64) {
    madsim::net::NetSim::current().update_config(|config| {
        config.send_latency = std::time::Duration::from_millis(min_ms)
            ..std::time::Duration::from_millis(max_ms.max(min_ms + 1));
    });
}
