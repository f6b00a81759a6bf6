//! Rule packs of Vigil: schema, loader and a pure evaluator over a `HostFacts` seam.

pub mod score;
