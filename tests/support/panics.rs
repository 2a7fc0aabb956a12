//! Planned panics (a step or a cleanup that panics on purpose, thousands of times in a
//! storm or a soak) would each print a message and bury real output: silence them.

use std::panic;
use std::sync::Once;

/// Every planned panic's message starts with this.
pub const PLANNED: &str = "planned panic";

/// Installs (once per process) a panic hook that stays silent for panics whose message
/// starts with [`PLANNED`] and hands every other panic to the default hook.
pub fn silence_planned_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if !message.is_some_and(|message| message.starts_with(PLANNED)) {
                default(info);
            }
        }));
    });
}
