//! Misbehaves on command, so the host's tests can check that a plugin failure never
//! takes the host down and never loses a record. By record value:
//! `panic` traps, `spin` loops forever, `hog` allocates without bound, `reject` is
//! rejected; anything else is forwarded. Config `log = "yes"` logs and counts each record.

use sluice_sdk::{Config, Level, Output, Plugin, Record, Reject, counter_add, log};

pub struct Misbehave {
    log: bool,
}

impl Plugin for Misbehave {
    fn init(config: &Config) -> Result<Self, String> {
        if config.get("fail_init").is_some() {
            return Err("asked to fail".into());
        }
        Ok(Misbehave { log: config.get("log").is_some() })
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Output<'_>) -> Result<(), Reject> {
        match record.value().unwrap_or_default() {
            b"panic" => panic!("asked to panic"),
            b"spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            b"hog" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            b"reject" => return Err(Reject::new("asked to reject")),
            _ => {}
        }
        if self.log {
            log(Level::Info, "record seen", &[("offset", &record.offset().to_string())]);
            counter_add("records_seen", 1);
        }
        out.forward();
        Ok(())
    }
}

sluice_sdk::export_plugin!(Misbehave);
