//! The integration tests by topic, one module each.

mod architecture;
mod bake;
mod bootstrap;
mod checklist;
mod cli;
mod cloudinit;
mod corrupt_fat;
mod fetch;
mod first_steps;
mod flash;
mod fleet;
mod host_keys;
mod image_checks;
mod imager;
mod init;
mod injection;
mod inspect;
mod kubernetes;
mod profile_extras;
mod render;
mod safety;
mod secrets_and_user_files;
mod validate;
