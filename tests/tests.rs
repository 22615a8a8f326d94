//! The one integration-test binary: every topic under `suite/`, sharing the
//! helpers in `support/` (compiled and linked once, not once per topic).

mod suite;
mod support;
