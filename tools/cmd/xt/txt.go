package main

import "github.com/xtbuild/xtbuild/tools/txt"

func init() {
	register(applet{name: "txt", summary: "TXT.ERRORCODE decoding, tboot log diagnosis, TXT config space", main: txt.Main})
}
