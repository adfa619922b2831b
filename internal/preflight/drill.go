package preflight

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"mbackup/internal/config"
	"mbackup/internal/human"
	"mbackup/internal/restore"
	"mbackup/internal/sandbox"
	"mbackup/internal/sshsig"
)

// drill reports what the drill section needs on this machine: the
// identity, a writable working directory and its free space, and the
// server programs the drill starts. A missing server program is a
// warning: a snapshot without that component needs none.
func drill(d *config.Drill, bin sandbox.Binaries) []Result {
	r := &results{what: "drill"}
	if ids, err := restore.ReadIdentities(d.IdentityFile); err != nil {
		r.fail(err.Error(), "drill.identity_file must be the age identity that decrypts the snapshots, readable by this user")
	} else {
		r.ok(fmt.Sprintf("%d age identity(ies) in %s", len(ids), d.IdentityFile))
	}
	drillDir(r, d.Dir)
	if dir, major, err := bin.Postgres(0); err != nil {
		r.warn(err.Error(), "")
	} else {
		r.ok(fmt.Sprintf("PostgreSQL %d server in %s", major, dir))
	}
	for _, p := range [][2]string{{"mariadbd", "apt-get install -y mariadb-server"}, {"mariadb-install-db", "apt-get install -y mariadb-server"},
		{"redis-server", "apt-get install -y redis-server"}} {
		if path, err := bin.Look(p[0], p[1]); err != nil {
			r.warn(err.Error(), "")
		} else {
			r.ok(p[0] + ": " + path)
		}
	}
	return r.rs
}

// drillDir reports whether this user can make the drill's private
// directory in dir, and its free space.
func drillDir(r *results, dir string) {
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		r.fail(err.Error(), "create it, or set drill.dir to a directory this user may write")
		return
	case !fi.IsDir():
		r.fail(dir+" is not a directory", "set drill.dir to a directory")
		return
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		r.fail(fmt.Sprintf("%s: not writable by this user: %v", dir, err), "set drill.dir to a directory this user may write")
		return
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err == nil {
		r.ok(fmt.Sprintf("%s: writable, %s free (a drill needs about twice the plaintext of the largest component)",
			dir, human.Bytes(int64(st.Bavail)*st.Bsize)))
	}
}

// verifierSigner reports the signer a verifier trusts: without one, every
// drill refuses the snapshots.
func verifierSigner(cfg *config.Config) []Result {
	r := &results{what: "signing"}
	pub, err := cfg.Encryption.TrustedSigner()
	if err != nil {
		r.fail(err.Error(), "set encryption.signer to the backup host's signing key (its ssh-ed25519 line)")
		return r.rs
	}
	r.ok("drills trust snapshots signed by " + sshsig.Fingerprint(pub))
	return r.rs
}
