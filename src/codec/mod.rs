//! SMS codec: GSM 03.38 alphabets, UCS-2, septet packing, UDH and TS 23.040
//! PDUs. Pure: no I/O, no tokio, no logging, and no panic on any input.

pub mod address;
pub mod charset;
pub mod dcs;
pub mod gsm7;
pub mod nat_tables;
pub mod pdu;
pub mod scts;
pub mod split;
pub mod ucs2;
pub mod udh;
