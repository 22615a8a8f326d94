//! Byte-moving helpers with no knowledge of images, nodes or Raspberry Pi
//! OS, one concern per file: sparse extents, atomic writes, aligned buffers, stream hashing,
//! opening an input read-only, what piprep may remove, the worker pool.
//! Every stage may use them; they use no stage.

pub mod aligned;
pub mod atomic;
pub mod extents;
pub mod hash;
pub mod input;
pub mod open;
pub mod owned;
pub mod pool;

pub use open::open_readonly;
