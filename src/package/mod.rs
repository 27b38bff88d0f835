//! The model of one package: its files (`fs`), its typed `manifest.yml` (`manifest`) and the
//! JSON shapes EPR serves for it (`json`).

pub mod fs;
