//! Vendor quirks in one table: what each modem family prints on its own, the
//! extra init it needs, and how its storage and USSD behave. The driver reads
//! flags from here; no `if vendor == ...` elsewhere.
//!
//! [`Family`] is the one list of modem families: the config's `quirks = ...`,
//! this table and the simulator's personalities are all keyed by it.

use std::fmt;
use std::str::FromStr;

/// A modem family. `Generic` is any modem we know nothing special about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    #[default]
    Generic,
    /// Huawei E1550/E173/E3372 (stick firmware).
    Huawei,
    /// SIMCom SIM800/SIM7600.
    Simcom,
    /// Quectel EC25/EG25/M35.
    Quectel,
    /// ZTE MF series.
    Zte,
    /// Telit GL865/LE910.
    Telit,
    /// Sierra Wireless / Wavecom.
    Sierra,
}

impl Family {
    pub const ALL: [Family; 7] = [
        Family::Generic,
        Family::Huawei,
        Family::Simcom,
        Family::Quectel,
        Family::Zte,
        Family::Telit,
        Family::Sierra,
    ];

    /// The name used in the config and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Generic => "generic",
            Family::Huawei => "huawei",
            Family::Simcom => "simcom",
            Family::Quectel => "quectel",
            Family::Zte => "zte",
            Family::Telit => "telit",
            Family::Sierra => "sierra",
        }
    }

    /// This family's row of the driver's table.
    pub fn quirk(self) -> &'static Quirk {
        QUIRKS.iter().find(|q| q.family == self).unwrap_or(&GENERIC)
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Family {
    type Err = String;
    /// Any case, surrounding blanks ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Family::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("unknown modem family {s:?} (generic, huawei, simcom, quectel, zte, telit, sierra)")
            })
    }
}

/// One modem family.
#[derive(Debug, PartialEq, Eq)]
pub struct Quirk {
    pub family: Family,
    /// Substrings of `AT+CGMI` (case-insensitive) that select this family.
    pub detect: &'static [&'static str],
    /// Line prefixes that are unsolicited noise for this family.
    pub noise: &'static [&'static str],
    /// Lines printed when the modem (re)boots: seen while ready, they mean
    /// our settings are lost and the driver initialises again.
    pub reboot_markers: &'static [&'static str],
    /// Extra init commands, run right after identification.
    pub init: &'static [&'static str],
    /// The command that reads the ICCID.
    pub iccid: &'static str,
    /// Storage indexes start at 0 (they start at 1 elsewhere).
    pub index_from_zero: bool,
    /// `AT+CMGL` may hang: sweep with `AT+CMGR` per index instead.
    pub cmgl_hangs: bool,
    /// USSD codes must be sent, and answers come back, as packed GSM-7 hex.
    pub ussd_packed: bool,
}

/// The table, one row per [`Family`]. The last row (`generic`) matches everything.
pub const QUIRKS: &[Quirk] = &[
    // Huawei E1550/E173/E3372 (stick mode): `^RSSI`, `^MODE`, `^BOOT`,
    // `^SRVST`, `^SIMST`, `^HCSQ` arrive constantly until `AT^CURC=0`; `+CMGL`
    // hangs on some firmware (gammu#4, #323); answers `COMMAND NOT SUPPORT`;
    // lists start at 0; USSD is packed GSM-7 hex.
    Quirk {
        family: Family::Huawei,
        detect: &["huawei"],
        noise: &[
            "^RSSI",
            "^MODE",
            "^BOOT",
            "^SRVST",
            "^SIMST",
            "^HCSQ",
            "^DSFLOWRPT",
            "^CEND",
            "^STIN",
            "^SYSSTART",
            "^NDISSTAT",
            "^RFSWITCH",
        ],
        reboot_markers: &["^SYSSTART"],
        init: &["AT^CURC=0"],
        iccid: "AT^ICCID?",
        index_from_zero: true,
        cmgl_hangs: true,
        ussd_packed: true,
    },
    // SIMCom SIM800/SIM7600: `RDY`, `+CFUN: 1`, `+CPIN: READY`, `Call Ready`,
    // `SMS Ready`, `PB DONE` at boot; `NORMAL POWER DOWN` and the voltage
    // warnings later (SIM800 Series AT Command Manual V1.09, URC summary).
    Quirk {
        family: Family::Simcom,
        detect: &["simcom"],
        noise: &[
            "RDY",
            "Call Ready",
            "SMS Ready",
            "PB DONE",
            "+CFUN:",
            "*PSUTTZ",
            "DST:",
            "+CPIN:",
        ],
        reboot_markers: &["RDY"],
        init: &[],
        iccid: "AT+CCID",
        index_from_zero: false,
        cmgl_hangs: false,
        ussd_packed: false,
    },
    // Quectel EC25/EG25/M35: `RDY`, `+QIND: SMS DONE`, `+QIND: PB DONE`,
    // `+QUSIM: 1` (EC25&EC21 AT Commands Manual, AT+QURCCFG and URC list).
    Quirk {
        family: Family::Quectel,
        detect: &["quectel"],
        noise: &[
            "RDY",
            "+QIND:",
            "+QUSIM:",
            "+CFUN:",
            "+CPIN:",
            "POWERED DOWN",
        ],
        reboot_markers: &["RDY"],
        init: &[],
        iccid: "AT+QCCID",
        index_from_zero: false,
        cmgl_hangs: false,
        ussd_packed: false,
    },
    // ZTE MF-series: `+ZUSIMR`, `+ZPASR`, `+ZDONR`, `+ZEND`, `+ZPBIC`.
    Quirk {
        family: Family::Zte,
        detect: &["zte"],
        noise: &[
            "+ZUSIMR", "+ZPASR", "+ZDONR", "+ZEND", "+ZPBIC", "+ZSTR", "^MODE",
        ],
        reboot_markers: &[],
        init: &[],
        iccid: "AT+ZGETICCID",
        index_from_zero: false,
        cmgl_hangs: false,
        ussd_packed: false,
    },
    // Telit GL865/LE910: `#QSS` SIM status.
    Quirk {
        family: Family::Telit,
        detect: &["telit"],
        noise: &["#QSS", "#STN"],
        reboot_markers: &[],
        init: &[],
        iccid: "AT#CCID",
        index_from_zero: false,
        cmgl_hangs: false,
        ussd_packed: false,
    },
    // Sierra Wireless / Wavecom: `+WIND` indications (turned off), `+PACSP`.
    Quirk {
        family: Family::Sierra,
        detect: &["sierra", "wavecom"],
        noise: &["+WIND", "+PACSP", "+STIN"],
        reboot_markers: &["+WIND: 3"],
        init: &["AT+WIND=0"],
        iccid: "AT+CCID",
        index_from_zero: false,
        cmgl_hangs: false,
        ussd_packed: false,
    },
    GENERIC,
];

/// The row of a modem with no known quirks.
const GENERIC: Quirk = Quirk {
    family: Family::Generic,
    detect: &[],
    noise: &[],
    reboot_markers: &[],
    init: &[],
    iccid: "AT+CCID",
    index_from_zero: false,
    cmgl_hangs: false,
    ussd_packed: false,
};

/// The family whose detect string is in the `AT+CGMI` answer.
pub fn detect(manufacturer: &str) -> &'static Quirk {
    let m = manufacturer.to_ascii_lowercase();
    QUIRKS
        .iter()
        .find(|q| q.detect.iter().any(|d| m.contains(d)))
        .unwrap_or(&GENERIC)
}

/// Every family's noise prefixes: the parser treats them as URCs from the
/// first byte, before the family is known.
pub fn all_noise() -> Vec<String> {
    let mut v: Vec<String> = QUIRKS
        .iter()
        .flat_map(|q| q.noise.iter().map(|s| s.to_string()))
        .collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection() {
        let table: &[(&str, Family)] = &[
            ("huawei", Family::Huawei),
            ("HUAWEI", Family::Huawei),
            ("SIMCOM INCORPORATED", Family::Simcom),
            ("SIMCOM_Ltd", Family::Simcom),
            ("Quectel", Family::Quectel),
            ("ZTE INCORPORATED", Family::Zte),
            ("Telit", Family::Telit),
            ("Sierra Wireless, Incorporated", Family::Sierra),
            ("WAVECOM MODEM", Family::Sierra),
            ("Nokia", Family::Generic),
            ("", Family::Generic),
        ];
        assert!(!table.is_empty());
        fn check(cgmi: &str, want: Family) {
            assert_eq!(detect(cgmi).family, want, "{cgmi:?}");
        }
        for (c, w) in table {
            check(c, *w);
        }
        assert!(all_noise().iter().any(|n| n == "^RSSI"));
    }

    #[test]
    fn every_family_has_its_row_and_name() {
        for f in Family::ALL {
            assert_eq!(f.quirk().family, f);
            assert_eq!(f.as_str().parse::<Family>(), Ok(f));
            assert_eq!(f.to_string().to_uppercase().parse::<Family>(), Ok(f));
        }
        assert_eq!(QUIRKS.len(), Family::ALL.len());
        assert!(" Huawei ".parse::<Family>() == Ok(Family::Huawei));
        assert!("nokia".parse::<Family>().is_err());
    }
}
