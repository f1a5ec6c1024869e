//! Packaging: the hardened systemd unit passes `systemd-analyze verify`, and
//! `packaging/build-deb.sh` turns the real binary into a .deb holding the binary, the unit,
//! the conffile and the maintainer scripts. Nothing is installed on this machine.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::bin;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(run(cmd).stdout).expect("utf-8 output")
}

#[test]
fn systemd_unit_is_hardened_and_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(repo().join("systemd/corerecon.service")).unwrap();
    let lines: Vec<&str> = unit.lines().map(str::trim).collect();
    for want in [
        "Type=simple",
        "User=corerecon",
        "Group=corerecon",
        "ExecStart=/usr/bin/corerecon serve",
        "Environment=CORERECON_DATA_DIR=/var/lib/corerecon CORERECON_ENV=production",
        "EnvironmentFile=-/etc/corerecon/corerecon.env",
        "StateDirectory=corerecon",
        "StateDirectoryMode=0700",
        "UMask=0077",
        "Restart=on-failure",
        "RestartSec=2",
        "TimeoutStopSec=30",
        "KillSignal=SIGTERM",
        "LimitNOFILE=65536",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "RestrictNamespaces=yes",
        "LockPersonality=yes",
        "MemoryDenyWriteExecute=yes",
        "RestrictRealtime=yes",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "WantedBy=multi-user.target",
    ] {
        assert!(
            lines.contains(&want),
            "systemd/corerecon.service lacks `{want}`"
        );
    }
    assert!(
        !lines.iter().any(|l| l.starts_with("DynamicUser=yes")),
        "the unit must run as the package's corerecon user"
    );

    if !on_path("systemd-analyze") {
        eprintln!(
            "SKIPPED systemd-analyze verify: systemd-analyze is not installed \
             (scripts/test-deps installs the `systemd` package)"
        );
        return;
    }
    // verify.sh runs `systemd-analyze verify` (no warning allowed) and the offline
    // `systemd-analyze security` on a scratch root holding the unit and the binary.
    let out = stdout(Command::new(repo().join("systemd/verify.sh")).arg(bin()));
    assert!(out.contains("ok: systemd-analyze verify"), "{out}");
    assert!(out.contains("Overall exposure level"), "{out}");
}

#[test]
fn build_deb_packages_the_binary_unit_conffile_and_maintainer_scripts() {
    assert!(
        on_path("dpkg-deb"),
        "dpkg-deb is missing: this test expects a Debian machine (apt-get install dpkg)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let printed = stdout(
        Command::new(repo().join("packaging/build-deb.sh"))
            .arg(bin())
            .arg(&out_dir)
            .env("DEB_COMPRESS", "none"),
    );
    let deb = PathBuf::from(
        printed
            .lines()
            .last()
            .expect("build-deb.sh prints the .deb"),
    );
    let arch = stdout(Command::new("dpkg").arg("--print-architecture"));
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        deb,
        out_dir.join(format!("corerecon_{version}_{}.deb", arch.trim()))
    );
    assert!(deb.is_file(), "{} was not written", deb.display());

    // Control: fields and maintainer scripts.
    let info = stdout(Command::new("dpkg-deb").arg("--info").arg(&deb));
    for want in [
        "Package: corerecon".to_string(),
        format!("Version: {version}"),
        format!("Architecture: {}", arch.trim()),
        "Maintainer: ".into(),
        "Depends: libc6".into(),
        "Description: ".into(),
    ] {
        assert!(
            info.contains(&want),
            "dpkg-deb --info lacks `{want}`:\n{info}"
        );
    }
    for script in ["postinst", "prerm", "postrm", "conffiles", "control"] {
        assert!(
            info.lines()
                .any(|l| l.split_whitespace().any(|w| w == script)),
            "the control archive lacks {script}:\n{info}"
        );
    }
    let conffiles = stdout(
        Command::new("dpkg-deb")
            .arg("--info")
            .arg(&deb)
            .arg("conffiles"),
    );
    assert_eq!(conffiles.trim(), "/etc/corerecon/corerecon.env");

    // Data: paths, modes, owners.
    let contents = stdout(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    let entry = |path: &str| -> (String, String) {
        let line = contents
            .lines()
            .find(|l| l.ends_with(&format!(" ./{path}")))
            .unwrap_or_else(|| panic!("the package lacks /{path}:\n{contents}"));
        let mut f = line.split_whitespace();
        (f.next().unwrap().to_string(), f.next().unwrap().to_string())
    };
    for (path, mode) in [
        ("usr/bin/corerecon", "-rwxr-xr-x"),
        ("lib/systemd/system/corerecon.service", "-rw-r--r--"),
        ("etc/corerecon/corerecon.env", "-rw-------"),
        ("usr/share/doc/corerecon/copyright", "-rw-r--r--"),
        ("usr/share/doc/corerecon/README.md", "-rw-r--r--"),
    ] {
        assert_eq!(
            entry(path),
            (mode.to_string(), "root/root".to_string()),
            "/{path}"
        );
    }

    // Extracted: the unit is the repository's, the conffile is a commented template,
    // the binary runs.
    let root = tmp.path().join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    assert_eq!(
        std::fs::read(root.join("lib/systemd/system/corerecon.service")).unwrap(),
        std::fs::read(repo().join("systemd/corerecon.service")).unwrap()
    );
    let env = std::fs::read_to_string(root.join("etc/corerecon/corerecon.env")).unwrap();
    for name in [
        "CORERECON_HTTP",
        "CORERECON_ADMIN_PASSWORD",
        "CORERECON_SECRET_KEY",
    ] {
        assert!(
            env.contains(&format!("#{name}=")),
            "corerecon.env lacks #{name}="
        );
    }
    assert!(
        env.lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')),
        "corerecon.env must set nothing by default:\n{env}"
    );
    let extracted = root.join("usr/bin/corerecon");
    let v = stdout(Command::new(&extracted).arg("--version"));
    assert_eq!(v.trim(), format!("corerecon {version}"));

    // Maintainer scripts: executable, valid sh, systemd calls guarded, purge-only deletion.
    let control = tmp.path().join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control));
    for script in ["postinst", "prerm", "postrm"] {
        let path = control.join(script);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o755, "{script} mode");
        run(Command::new("sh").arg("-n").arg(&path));
    }
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    let postinst = read(&control.join("postinst"));
    assert!(
        postinst.contains("[ -d /run/systemd/system ]"),
        "{postinst}"
    );
    assert!(
        postinst.contains("--system"),
        "postinst creates a system user:\n{postinst}"
    );
    let prerm = read(&control.join("prerm"));
    assert!(
        prerm.contains("systemctl stop corerecon.service"),
        "{prerm}"
    );
    let postrm = read(&control.join("postrm"));
    let purge = postrm.find("purge)").expect("postrm handles purge");
    let wipe = postrm
        .find("rm -rf /var/lib/corerecon")
        .expect("purge removes the data dir");
    assert!(
        wipe > purge,
        "the data dir is removed on purge only:\n{postrm}"
    );
}
