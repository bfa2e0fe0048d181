package main

import "github.com/xtbuild/xtbuild/tools/serial"

func init() {
	register(applet{name: "serial", summary: "find serial ports and the tboot serial= option for each", main: serial.Main})
}
