package tpm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xtbuild/xtbuild/tools/internal/testenv"
	"github.com/xtbuild/xtbuild/tools/tpm/device"
)

// freePort asks the kernel for an unused loopback TCP port.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitPort(t *testing.T, port int, what string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-done:
			t.Fatalf("%s exited before listening: %v", what, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s not listening on %d after 15s", what, port)
}

// proc is a background process stopped with SIGTERM at cleanup.
type proc struct {
	cmd  *exec.Cmd
	done chan error
	out  *bytes.Buffer
}

func startProc(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), done: make(chan error, 1), out: new(bytes.Buffer)}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(p.stop)
	return p
}

func (p *proc) stop() {
	if p.cmd.Process == nil || p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// TestDropInsMatchTPMTools runs Debian's tpm-tools 1.3.9 through trousers'
// tcsd against a swtpm TPM 1.2 (TCP), defines NV indices with tpm_nvdefine
// (owner/auth/PP permissions, sizes, PCR-bound read and write) and two with
// localities (defined directly: tpm_nvdefine has no locality option), then
// compares tpm_version and tpm_nvinfo (all, -n, -i) with xt's drop-ins on
// the same TPM state, byte for byte and exit code for exit code.
func TestDropInsMatchTPMTools(t *testing.T) {
	swtpm := testenv.LookPath(t, "swtpm", "swtpm swtpm-tools")
	tcsd := testenv.LookPath(t, "tcsd", "trousers")
	for _, p := range []string{"tpm_version", "tpm_nvinfo", "tpm_nvdefine", "tpm_createek", "tpm_takeownership"} {
		testenv.LookPath(t, p, "tpm-tools")
	}
	if os.Geteuid() != 0 {
		testenv.Missing(t, "tcsd needs root: its config must be owned by root:tss and it drops to user tss")
	}
	tss, err := user.Lookup("tss")
	if err != nil {
		testenv.Missing(t, "no tss user (apt-get install trousers): %v", err)
	}
	uid, _ := strconv.Atoi(tss.Uid)
	gid, _ := strconv.Atoi(tss.Gid)

	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	state, ps := filepath.Join(dir, "state"), filepath.Join(dir, "ps")
	for _, d := range []string{state, ps} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(ps, uid, gid); err != nil {
		t.Fatal(err)
	}
	tpmPort, ctrlPort, tcsdPort := freePort(t), freePort(t), freePort(t)
	sw := startProc(t, nil, swtpm, "socket", "--tpmstate", "dir="+state,
		"--server", fmt.Sprintf("type=tcp,port=%d", tpmPort), "--ctrl", fmt.Sprintf("type=tcp,port=%d", ctrlPort),
		"--flags", "not-need-init,startup-clear")
	waitPort(t, tpmPort, "swtpm", sw.done)
	dev := fmt.Sprintf("tcp:127.0.0.1:%d", tpmPort)
	ctx := context.Background()

	// Indices with localities, defined while NV is unlocked (no auth).
	d, err := device.Open(ctx, dev, device.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, nv := range []NVIndex12{
		{Index: 0x00005000, ReadPCRs: NoPCRs(), WritePCRs: NoPCRs(), Permissions: 0x00040004, Size: 32},
		{Index: 0x50000003, ReadPCRs: NoPCRs(), WritePCRs: NoPCRs(), Permissions: 0x00040004, Size: 64},
	} {
		nv := nv
		if nv.Index == 0x00005000 {
			nv.ReadPCRs.Locality = 0x01
		} else {
			nv.WritePCRs.Locality = 0x18
		}
		if err := NewTPM12(d).defineSpaceUnauth(ctx, &nv); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()

	conf := filepath.Join(dir, "tcsd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("port = %d\nsystem_ps_file = %s/system.data\n", tcsdPort, ps)), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(conf, 0, gid); err != nil {
		t.Fatal(err)
	}
	td := startProc(t, []string{"TCSD_TCP_DEVICE_PORT=" + strconv.Itoa(tpmPort)}, tcsd, "-f", "-e", "-c", conf)
	waitPort(t, tcsdPort, "tcsd", td.done)
	clientEnv := append(os.Environ(), "TSS_TCSD_PORT="+strconv.Itoa(tcsdPort), "TSS_TCSD_HOSTNAME=127.0.0.1")
	tool := func(args ...string) (stdout []byte, code int) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = clientEnv
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("%q: %v", args, err)
		}
		return out.Bytes(), cmd.ProcessState.ExitCode()
	}
	must := func(args ...string) {
		if out, code := tool(args...); code != 0 {
			t.Fatalf("%q: exit %d\n%s\ntcsd:\n%s", args, code, out, td.out)
		}
	}
	must("tpm_createek")
	must("tpm_takeownership", "-y", "-z")
	must("tpm_nvdefine", "-i", "0x1000", "-s", "20", "-p", "OWNERWRITE|OWNERREAD", "-y")
	must("tpm_nvdefine", "-i", "0x2000", "-s", "8", "-p", "AUTHREAD|AUTHWRITE", "-y", "-z")
	must("tpm_nvdefine", "-i", "0x3000", "-s", "16", "-p", "AUTHWRITE", "-r", "0", "-r", "7", "-w", "4", "-y", "-z")
	must("tpm_nvdefine", "-i", "0x4000", "-s", "1", "-p", "PPWRITE|WRITEDEFINE|READ_STCLEAR", "-y")
	must("tpm_nvdefine", "-i", "0x90000001", "-s", "1024", "-p", "OWNERWRITE|WRITEALL", "-r", "23", "-y")
	must("tpm_nvdefine", "-i", "0x11", "-s", "4", "-p", "GLOBALLOCK|OWNERWRITE", "-y")

	cases := [][]string{
		{"tpm_version"},
		{"tpm_nvinfo"},
		{"tpm_nvinfo", "-n"},
		{"tpm_nvinfo", "--list-only"},
		{"tpm_nvinfo", "-i", "0x3000"},
		{"tpm_nvinfo", "--index=4096"},
		{"tpm_nvinfo", "--ind", "0x50000003"},
		{"tpm_nvinfo", "-i0x5000"},
		{"tpm_nvinfo", "-i", "0x9999"},
		{"tpm_nvinfo", "-i", "0x1000", "-n"},
		{"tpm_nvinfo", "-n", "-i", "0x90000001"},
		{"tpm_nvinfo", "-i", "nonsense"},
	}
	want := make([][]byte, len(cases))
	wantCode := make([]int, len(cases))
	for i, c := range cases {
		want[i], wantCode[i] = tool(c...)
	}
	td.stop() // the drop-ins talk to swtpm directly

	for i, c := range cases {
		var stdout, stderr bytes.Buffer
		code := CompatMain(ctx, c[0], append(append([]string{}, c[1:]...), "--device", dev), &stdout, &stderr)
		if code != wantCode[i] || !bytes.Equal(stdout.Bytes(), want[i]) {
			t.Errorf("%s: exit %d, want %d\n--- xt:\n%q\n--- tpm-tools:\n%q\nstderr: %s",
				strings.Join(c, " "), code, wantCode[i], stdout.String(), string(want[i]), stderr.String())
		}
	}
	if !bytes.Contains(want[1], []byte(" Hash\t : ")) || !bytes.Contains(want[1], []byte(" Localities   : 0x1\n")) {
		t.Errorf("the reference output lacks the PCR-bound/locality forms this test is for:\n%s", want[1])
	}
}
