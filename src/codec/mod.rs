//! SMS codec: GSM 03.38 alphabets, UCS-2, septet packing, UDH and TS 23.040
//! PDUs. Pure: no I/O, no tokio, no logging, and no panic on any input.

pub mod nat_tables;
