//! The simulator's quirk table: one row per modem family (identity answers, boot
//! noise, index base, ICCID command, USSD coding, URC noise). Every vendor
//! difference the simulator shows lives here, not in `if vendor == …` branches.
//! It does not decide how commands are answered; `engine.rs` reads these rows.

/// The modem family a simulated modem imitates: the product's one list of
/// families ([`crate::modem::quirks::Family`]), so the simulator imitates
/// exactly the families the driver knows.
pub type Personality = crate::modem::quirks::Family;

pub const ALL: [Personality; 7] = Personality::ALL;

/// How an ICCID query is spelled and answered.
#[derive(Debug, Clone, Copy)]
pub struct IccidCmd {
    /// The command after `AT`, upper case (e.g. `+CCID`, `^ICCID?`).
    pub command: &'static str,
    /// The answer prefix (`""` for a bare number).
    pub prefix: &'static str,
    pub quoted: bool,
}

/// One row of the quirk table.
#[derive(Debug, Clone, Copy)]
pub struct Quirks {
    pub manufacturer: &'static str,
    pub model: &'static str,
    pub revision: &'static str,
    /// Lines sent (each as `\r\n<line>\r\n`) after power-up or a reset.
    pub boot: &'static [&'static str],
    /// The first storage index (Huawei lists from 0).
    pub index_base: u32,
    pub iccid: &'static [IccidCmd],
    /// `+CUSD` answers as GSM-7 packed hex.
    pub ussd_packed: bool,
    /// Accepts `AT^CURC=`.
    pub curc: bool,
    /// Vendor URCs used as noise, besides the common ones (Huawei: until `AT^CURC=0`).
    pub noise: &'static [&'static str],
    /// Vendor commands accepted with a plain `OK` (e.g. Wavecom `+WIND`).
    pub accepts: &'static [&'static str],
    /// The final result for an unknown command instead of `ERROR`/`+CME ERROR: 4`.
    pub unsupported: Option<&'static str>,
    /// Status reports kept (`ds=2`) go to the `SR` memory (`+CDSI: "SR",n`).
    pub reports_in_sr: bool,
}

/// The simulator's row for one family.
pub fn quirks(p: Personality) -> Quirks {
    match p {
        Personality::Generic => Quirks {
            manufacturer: "SIMULATED",
            model: "GSM MODEM",
            revision: "1.0",
            boot: &[],
            index_base: 1,
            iccid: &[
                IccidCmd {
                    command: "+CCID",
                    prefix: "+CCID: ",
                    quoted: false,
                },
                IccidCmd {
                    command: "+ICCID",
                    prefix: "+ICCID: ",
                    quoted: false,
                },
            ],
            ussd_packed: false,
            curc: false,
            noise: &["^RSSI:18", "+QIND: \"csq\",20,99"],
            accepts: &[],
            unsupported: None,
            reports_in_sr: false,
        },
        Personality::Huawei => Quirks {
            manufacturer: "huawei",
            model: "E173",
            revision: "11.126.16.04.174",
            boot: &["^SYSSTART", "^SIMST:1", "^SRVST:2", "^MODE:5,4"],
            index_base: 0,
            iccid: &[IccidCmd {
                command: "^ICCID?",
                prefix: "^ICCID: ",
                quoted: false,
            }],
            ussd_packed: true,
            curc: true,
            noise: &[
                "^RSSI:18",
                "^MODE:5,4",
                "^SRVST:2",
                "^BOOT:12345678,0,0,0,72",
            ],
            accepts: &["^SYSCFG", "^SYSINFO"],
            unsupported: Some("COMMAND NOT SUPPORT"),
            reports_in_sr: false,
        },
        Personality::Simcom => Quirks {
            manufacturer: "SIMCOM_Ltd",
            model: "SIMCOM_SIM800L",
            revision: "Revision:1418B04SIM800L24",
            boot: &["RDY", "+CFUN: 1", "+CPIN: READY", "Call Ready", "SMS Ready"],
            index_base: 1,
            iccid: &[
                IccidCmd {
                    command: "+CCID",
                    prefix: "",
                    quoted: false,
                },
                IccidCmd {
                    command: "+CICCID",
                    prefix: "+ICCID: ",
                    quoted: false,
                },
            ],
            ussd_packed: false,
            curc: false,
            noise: &["+CPIN: READY", "SMS Ready"],
            accepts: &[],
            unsupported: None,
            reports_in_sr: false,
        },
        Personality::Quectel => Quirks {
            manufacturer: "Quectel",
            model: "EC25",
            revision: "EC25EFAR06A06M4G",
            boot: &[
                "RDY",
                "+CPIN: READY",
                "+QUSIM: 1",
                "+QIND: SMS DONE",
                "+QIND: PB DONE",
            ],
            index_base: 1,
            iccid: &[
                IccidCmd {
                    command: "+QCCID",
                    prefix: "+QCCID: ",
                    quoted: false,
                },
                IccidCmd {
                    command: "+CCID",
                    prefix: "+CCID: ",
                    quoted: false,
                },
            ],
            ussd_packed: false,
            curc: false,
            noise: &["+QIND: \"csq\",20,99", "+QIND: SMS DONE"],
            accepts: &[],
            unsupported: None,
            reports_in_sr: false,
        },
        Personality::Zte => Quirks {
            manufacturer: "ZTE CORPORATION",
            model: "MF190",
            revision: "BD_MF190V1.0.0B05",
            boot: &["+ZUSIMR:2", "+ZPASR: \"GSM\""],
            index_base: 1,
            iccid: &[IccidCmd {
                command: "+ZGETICCID",
                prefix: "+ZGETICCID: ",
                quoted: false,
            }],
            ussd_packed: false,
            curc: false,
            noise: &[
                "+ZPASR: \"UMTS\"",
                "+ZDONR: \"SimNet\",262,1,\"CS_PS\",\"ROAM_OFF\"",
            ],
            accepts: &[],
            unsupported: None,
            reports_in_sr: false,
        },
        Personality::Telit => Quirks {
            manufacturer: "Telit",
            model: "LE910C1-EU",
            revision: "25.21.660",
            boot: &[],
            index_base: 1,
            iccid: &[
                IccidCmd {
                    command: "#CCID",
                    prefix: "#CCID: ",
                    quoted: false,
                },
                IccidCmd {
                    command: "+ICCID",
                    prefix: "+ICCID: ",
                    quoted: false,
                },
            ],
            ussd_packed: false,
            curc: false,
            noise: &["#QSS: 1"],
            accepts: &[],
            unsupported: None,
            reports_in_sr: false,
        },
        Personality::Sierra => Quirks {
            manufacturer: "WAVECOM MODEM",
            model: "MULTIBAND  900E  1800",
            revision: "R7.46.0.201108091301.FXT009",
            boot: &["+WIND: 3", "+WIND: 1", "+WIND: 4"],
            index_base: 1,
            iccid: &[
                IccidCmd {
                    command: "+CCID",
                    prefix: "+CCID: ",
                    quoted: true,
                },
                IccidCmd {
                    command: "!ICCID?",
                    prefix: "ICCID: ",
                    quoted: false,
                },
            ],
            ussd_packed: false,
            curc: false,
            noise: &["+WIND: 7", "+WIND: 10,\"SM\",0,\"FD\",0"],
            accepts: &["+WIND"],
            unsupported: None,
            reports_in_sr: true,
        },
    }
}
