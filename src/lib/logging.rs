//! Operator logs through the `log` crate and env_logger: one line per event, with the
//! process id, so lines from the master and its workers can be told apart.
//! `RUST_LOG` (module filters) wins over `--log-level`.
use std::io::Write;

/// Install the logger for this process. Safe to call once; later calls are ignored.
pub fn init(level: log::LevelFilter) {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(level);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    builder.format(|buf, record| {
        let ts = buf.timestamp_millis();
        writeln!(
            buf,
            "{ts} {:<5} waitressd[{}] {}",
            record.level(),
            std::process::id(),
            record.args()
        )
    });
    let _ = builder.try_init();
}
