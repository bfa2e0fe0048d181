package upload

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is returned when the server's host key is not trusted:
// unknown (never trusted on first use), changed, or revoked.
type HostKeyError struct {
	Addr        string   // host:port dialled
	Key         string   // presented key type
	Fingerprint string   // SHA256:... of the presented key
	Files       []string // known_hosts files consulted
	Known       []string // "file:line" of keys on record for this host (a mismatch)
	Revoked     bool
}

func (e *HostKeyError) Error() string {
	host, port, _ := net.SplitHostPort(e.Addr)
	file := "~/.ssh/known_hosts"
	if len(e.Files) > 0 {
		file = e.Files[0]
	}
	name := host
	if port != "22" {
		name = "[" + host + "]:" + port
	}
	// ssh-keygen file names and ssh-keyscan -t use the short type names.
	keyType := strings.TrimPrefix(e.Key, "ssh-")
	if strings.HasPrefix(e.Key, "ecdsa-") {
		keyType = "ecdsa"
	}
	switch {
	case e.Revoked:
		return fmt.Sprintf("host key of %s (%s %s) is marked @revoked in known_hosts; refusing to connect", e.Addr, e.Key, e.Fingerprint)
	case len(e.Known) > 0:
		return fmt.Sprintf("HOST KEY MISMATCH for %s: it presented %s %s, which does not match the key recorded at %s. "+
			"Someone may be intercepting the connection; refusing to upload. If the server was reinstalled, check the new "+
			"fingerprint with its administrator, then remove the old entry (ssh-keygen -R '%s' -f %s) and add the new one.",
			e.Addr, e.Key, e.Fingerprint, strings.Join(e.Known, ", "), name, file)
	default:
		return fmt.Sprintf("unknown host key for %s (%s %s): not in %s, and upload never trusts a host on first use. "+
			"Check the fingerprint on the server (ssh-keygen -lf /etc/ssh/ssh_host_%s_key.pub), then add it: "+
			"ssh-keyscan -p %s -t %s %s >> %s",
			e.Addr, e.Key, e.Fingerprint, strings.Join(e.Files, ", "), keyType, port, keyType, host, file)
	}
}

// sshSettings are the client-side choices for one SFTP destination.
type sshSettings struct {
	knownHosts string // empty: ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts
	identity   string // empty: ~/.ssh/id_ed25519, id_ecdsa, id_rsa
	timeout    time.Duration
}

func knownHostsFiles(explicit string) ([]string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return nil, fmt.Errorf("known_hosts file: %w", err)
		}
		return []string{explicit}, nil
	}
	var files []string
	if home, err := os.UserHomeDir(); err == nil {
		files = append(files, filepath.Join(home, ".ssh", "known_hosts"))
	}
	files = append(files, "/etc/ssh/ssh_known_hosts")
	var exist []string
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			exist = append(exist, f)
		}
	}
	if len(exist) == 0 {
		// Still name where the key should go in the refusal message.
		return files[:1], nil
	}
	return exist, nil
}

// hostKeyCheck wraps knownhosts with refusal messages that say what to do,
// and returns the host key algorithms already on record for addr so the
// server is asked for a key type we can check (otherwise a host known by
// its RSA key that prefers ed25519 would look unknown).
func hostKeyCheck(files []string, addr string) (ssh.HostKeyCallback, []string, error) {
	var existing []string
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		}
	}
	db, err := knownhosts.New(existing...)
	if err != nil {
		return nil, nil, fmt.Errorf("read known_hosts: %w", err)
	}
	algos := knownAlgorithms(db, addr)
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := db(hostname, remote, key)
		if err == nil {
			return nil
		}
		he := &HostKeyError{Addr: addr, Key: key.Type(), Fingerprint: ssh.FingerprintSHA256(key), Files: files}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &ke):
			for _, w := range ke.Want {
				he.Known = append(he.Known, w.Filename+":"+strconv.Itoa(w.Line))
			}
		case errors.As(err, &re):
			he.Revoked = true
		default:
			return fmt.Errorf("check host key of %s: %w", addr, err)
		}
		return he
	}
	return cb, algos, nil
}

func knownAlgorithms(db ssh.HostKeyCallback, addr string) []string {
	// Asking about a throwaway key makes knownhosts list the keys it has
	// on record for this host.
	pub, _, _ := ed25519.GenerateKey(nil)
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if !errors.As(db(addr, &net.TCPAddr{}, probe), &ke) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	add := func(a ...string) {
		for _, x := range a {
			if !seen[x] {
				seen[x] = true
				algos = append(algos, x)
			}
		}
	}
	for _, w := range ke.Want {
		switch t := w.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}

// authMethods offers the configured or default identity file and, when
// SSH_AUTH_SOCK is set, the agent's keys. Passwords are never used: an
// unattended upload must not prompt.
func authMethods(identity string) ([]ssh.AuthMethod, func(), error) {
	var signers []ssh.Signer
	cleanup := func() {}
	candidates := []string{identity}
	if identity == "" {
		candidates = nil
		if home, err := os.UserHomeDir(); err == nil {
			for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
				candidates = append(candidates, filepath.Join(home, ".ssh", n))
			}
		}
	}
	var agentSigners func() ([]ssh.Signer, error)
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		if c, err := net.Dial("unix", sock); err == nil {
			ag := agent.NewClient(c)
			agentSigners = ag.Signers
			cleanup = func() { c.Close() }
		}
	}
	var encrypted []string
	for _, f := range candidates {
		data, err := os.ReadFile(f)
		if err != nil {
			if identity != "" {
				return nil, cleanup, fmt.Errorf("read SSH identity: %w", err)
			}
			continue
		}
		s, err := ssh.ParsePrivateKey(data)
		var pm *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &pm):
			encrypted = append(encrypted, f)
		case err != nil:
			return nil, cleanup, fmt.Errorf("parse SSH identity %s: %w", f, err)
		default:
			signers = append(signers, s)
		}
	}
	if len(signers) == 0 && agentSigners == nil {
		if len(encrypted) > 0 {
			return nil, cleanup, fmt.Errorf("SSH identity %s is passphrase-protected and no ssh-agent is running: load it with ssh-add, or use a deploy key without a passphrase", strings.Join(encrypted, ", "))
		}
		return nil, cleanup, errors.New("no SSH identity: set upload.identity to a private key, create ~/.ssh/id_ed25519, or run an ssh-agent")
	}
	cb := func() ([]ssh.Signer, error) {
		all := append([]ssh.Signer(nil), signers...)
		if agentSigners != nil {
			if as, err := agentSigners(); err == nil {
				all = append(all, as...)
			}
		}
		return all, nil
	}
	return []ssh.AuthMethod{ssh.PublicKeysCallback(cb)}, cleanup, nil
}

// dialSSH connects and authenticates. Network failures are returned as
// transient; host key and authentication refusals are not.
func dialSSH(ctx context.Context, d Destination, s sshSettings) (*ssh.Client, error) {
	files, err := knownHostsFiles(s.knownHosts)
	if err != nil {
		return nil, err
	}
	addr := d.Addr()
	check, algos, err := hostKeyCheck(files, addr)
	if err != nil {
		return nil, err
	}
	auth, cleanup, err := authMethods(s.identity)
	if err != nil {
		cleanup()
		return nil, err
	}
	name := d.User
	if name == "" {
		u, err := user.Current()
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("sftp destination has no user and the local user is unknown: %w", err)
		}
		name = u.Username
	}
	timeout := s.timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	cfg := &ssh.ClientConfig{
		User:              name,
		Auth:              auth,
		HostKeyCallback:   check,
		HostKeyAlgorithms: algos,
		Timeout:           timeout,
	}
	dl := net.Dialer{Timeout: timeout, KeepAlive: 15 * time.Second}
	nc, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		cleanup()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if isNetworkFailure(err) {
			return nil, transient(fmt.Errorf("connect to %s: %w", addr, err))
		}
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	// The handshake honours the context and the timeout through a deadline.
	nc.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	c, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	stop()
	cleanup()
	if err != nil {
		nc.Close()
		var he *HostKeyError
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.As(err, &he):
			return nil, he
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, fmt.Errorf("ssh login as %s at %s refused: %w (is the public key in the server's authorized_keys?)", name, addr, err)
		case isNetworkFailure(err):
			return nil, transient(fmt.Errorf("ssh handshake with %s: %w", addr, err))
		default:
			return nil, fmt.Errorf("ssh handshake with %s: %w", addr, err)
		}
	}
	nc.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}
