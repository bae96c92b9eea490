//! Link options for the `smsgate` binary; owns nothing else (no code
//! generation).
//!
//! On x86_64 glibc Linux the binary is linked with `-z pack-relative-relocs`
//! (DT_RELR, binutils 2.38+, glibc 2.36+: Debian bookworm): a position-
//! independent binary's relative relocations take 19 KB instead of 1 MB of
//! `.rela.dyn`, which the dynamic loader reads at every start and which
//! stayed mapped (resident) for the process's life. The binary stays PIE
//! (ASLR). Only the binaries get it (`rustc-link-arg-bins`), so no
//! dependency is rebuilt. The static musl and cross builds of
//! tools/release.sh are left as they were (musl reads DT_RELR only from
//! 1.2.4; Raspberry Pi OS bullseye has glibc 2.31).

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
    {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
