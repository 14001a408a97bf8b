package audit

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startChild runs the crash child and returns its address.
func startChild(t *testing.T, bin, file, spool string, durability Durability, stderr *syncBuf) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, file, spool, string(durability))
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child did not start: %v; stderr:\n%s", err, stderr.String())
	}
	cmd.Args = append(cmd.Args, strings.TrimSpace(line))
	return cmd
}

// TestCrashLosesNothingAcknowledged builds a real program around the
// trail, drives records into it from many clients, kills it with SIGKILL
// mid-stream, tears its last line by hand (as a crash in the middle of a
// write would), restarts it, and checks that every record whose request
// was answered is in the trail and that the chain verifies across the
// rotated files. Both durabilities survive a killed process: "write"
// acknowledges once the kernel has the bytes, and the kernel keeps them.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a child process")
	}
	bin := filepath.Join(t.TempDir(), "crashchild")
	build := exec.Command("go", "build", "-o", bin, "./testdata/crashchild")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, d := range []Durability{DurabilityFsync, DurabilityWrite} {
		t.Run(string(d), func(t *testing.T) { crashAndCheck(t, bin, d) })
	}
}

func crashAndCheck(t *testing.T, bin string, durability Durability) {
	dir := t.TempDir()
	file, spool := filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "spool")
	var mu sync.Mutex
	acked := map[string]bool{}
	drive := func(addr, prefix string, stop <-chan struct{}, n int) {
		var wg sync.WaitGroup
		client := &http.Client{Timeout: 5 * time.Second}
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; n == 0 || i < n; i++ {
					select {
					case <-stop:
						return
					default:
					}
					id := fmt.Sprintf("%s-%d-%d", prefix, w, i)
					resp, err := client.Post("http://"+addr+"/record?id="+id, "text/plain", nil)
					if err != nil {
						return // the child died
					}
					resp.Body.Close()
					if resp.StatusCode == 200 {
						mu.Lock()
						acked[id] = true
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
	}

	stderr := &syncBuf{}
	cmd := startChild(t, bin, file, spool, durability, stderr)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { drive(cmd.Args[len(cmd.Args)-1], "a", stop, 0); close(done) }()
	// Let records flow, then kill the child without warning.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 600 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	close(stop)
	<-done
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	if before < 100 {
		t.Fatalf("only %d records acknowledged before the kill", before)
	}
	// A crash in the middle of a write leaves half a line.
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"seq":999999,"prev":"0123`)
	f.Close()

	stderr2 := &syncBuf{}
	cmd2 := startChild(t, bin, file, spool, durability, stderr2)
	drive(cmd2.Args[len(cmd2.Args)-1], "b", nil, 20)
	_ = cmd2.Process.Signal(syscall.SIGKILL)
	_ = cmd2.Wait()
	if !strings.Contains(stderr2.String(), "torn last line") {
		t.Errorf("the restart did not report the torn line; stderr:\n%s", stderr2.String())
	}

	files, err := ExpandPaths([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Errorf("want rotated files, got %v", files)
	}
	rep, err := Verify(files, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("the trail does not verify after the crash: %v", rep.Problems)
	}
	inTrail := map[string]bool{}
	recovered := 0
	for _, p := range files {
		rf, _ := os.Open(p)
		sc := bufio.NewScanner(rf)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			r, _, err := ParseLine(sc.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			inTrail[r.RequestID] = true
			if r.Kind == KindRecovered {
				recovered++
			}
		}
		rf.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	lost := 0
	for id := range acked {
		if !inTrail[id] {
			lost++
			if lost < 5 {
				t.Errorf("acknowledged record %s is not in the trail", id)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged records lost", lost, len(acked))
	}
	if recovered != 1 {
		t.Errorf("%d audit.recovered records, want 1", recovered)
	}
	t.Logf("%d acknowledged records (%d before the kill) all in %d files, %d records", len(acked), before, len(files), rep.Records)
}
