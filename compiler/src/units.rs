//! Placeholder: units and dimensions are being written.
