//! vigil-collector library.
