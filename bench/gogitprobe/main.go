// Command gogitprobe times a shallow clone + checkout of one repository with
// go-git and with C git, the measurement behind layers' choice of C git.
//
//	go run ./bench/gogitprobe file:///work/.mirror/openembedded+meta-openembedded/repo
package main

import (
	"fmt"
	"os"
	"os/exec"
	"time"

	git "github.com/go-git/go-git/v5"
)

func main() {
	url := os.Args[1]
	tmp, _ := os.MkdirTemp("", "gogitprobe-")
	defer os.RemoveAll(tmp)
	s := time.Now()
	if _, err := git.PlainClone(tmp+"/gogit", false, &git.CloneOptions{URL: url, Depth: 1, SingleBranch: true, Tags: git.NoTags}); err != nil {
		fmt.Println("go-git:", err)
	}
	fmt.Printf("go-git clone --depth 1 + checkout: %.2f s\n", time.Since(s).Seconds())
	s = time.Now()
	if out, err := exec.Command("git", "clone", "-q", "--depth", "1", "--single-branch", "--no-tags", url, tmp+"/cgit").CombinedOutput(); err != nil {
		fmt.Println("git:", err, string(out))
	}
	fmt.Printf("C git clone --depth 1 + checkout:  %.2f s\n", time.Since(s).Seconds())
}
