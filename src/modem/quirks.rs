//! Vendor quirks in one table: what each modem family prints on its own, the
//! extra init it needs, and how its storage and USSD behave. The driver reads
//! flags from here; no `if vendor == ...` elsewhere.

/// One modem family.
#[derive(Debug, PartialEq, Eq)]
pub struct Quirk {
    /// Family name, as `quirks = "..."` in the config forces it.
    pub family: &'static str,
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

/// The table. The last row (`generic`) matches everything.
pub const QUIRKS: &[Quirk] = &[
    // Huawei E1550/E173/E3372 (stick mode): `^RSSI`, `^MODE`, `^BOOT`,
    // `^SRVST`, `^SIMST`, `^HCSQ` arrive constantly until `AT^CURC=0`; `+CMGL`
    // hangs on some firmware (gammu#4, #323); answers `COMMAND NOT SUPPORT`;
    // lists start at 0; USSD is packed GSM-7 hex.
    Quirk {
        family: "huawei",
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
        family: "simcom",
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
        family: "quectel",
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
        family: "zte",
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
        family: "telit",
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
        family: "sierra",
        detect: &["sierra", "wavecom"],
        noise: &["+WIND", "+PACSP", "+STIN"],
        reboot_markers: &["+WIND: 3"],
        init: &["AT+WIND=0"],
        iccid: "AT+CCID",
        index_from_zero: false,
        cmgl_hangs: false,
        ussd_packed: false,
    },
    Quirk {
        family: "generic",
        detect: &[],
        noise: &[],
        reboot_markers: &[],
        init: &[],
        iccid: "AT+CCID",
        index_from_zero: false,
        cmgl_hangs: false,
        ussd_packed: false,
    },
];

fn generic() -> &'static Quirk {
    QUIRKS
        .last()
        .expect("the quirks table ends with the generic row")
}

/// The family named in the config, or the generic one.
pub fn by_name(name: &str) -> &'static Quirk {
    QUIRKS
        .iter()
        .find(|q| q.family.eq_ignore_ascii_case(name.trim()))
        .unwrap_or_else(generic)
}

/// The family whose detect string is in the `AT+CGMI` answer.
pub fn detect(manufacturer: &str) -> &'static Quirk {
    let m = manufacturer.to_ascii_lowercase();
    QUIRKS
        .iter()
        .find(|q| q.detect.iter().any(|d| m.contains(d)))
        .unwrap_or_else(generic)
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
        let table: &[(&str, &str)] = &[
            ("huawei", "huawei"),
            ("HUAWEI", "huawei"),
            ("SIMCOM INCORPORATED", "simcom"),
            ("SIMCOM_Ltd", "simcom"),
            ("Quectel", "quectel"),
            ("ZTE INCORPORATED", "zte"),
            ("Telit", "telit"),
            ("Sierra Wireless, Incorporated", "sierra"),
            ("WAVECOM MODEM", "sierra"),
            ("Nokia", "generic"),
            ("", "generic"),
        ];
        assert!(!table.is_empty());
        fn check(cgmi: &str, want: &str) {
            assert_eq!(detect(cgmi).family, want, "{cgmi:?}");
        }
        for (c, w) in table {
            check(c, w);
        }
        assert_eq!(by_name("Huawei").family, "huawei");
        assert_eq!(by_name("nope").family, "generic");
        assert!(all_noise().iter().any(|n| n == "^RSSI"));
    }
}
