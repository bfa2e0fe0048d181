package main

import "github.com/xtbuild/xtbuild/tools/ds1077l"

// The DS1077L oscillator tool, plus the ds1077l-ctrl program names so links
// named after them keep old scripts working.
func init() {
	register(applet{name: "ds1077l", summary: "program a DS1077L oscillator over I2C", main: ds1077l.Main})
	register(applet{name: "ds1077l-bus", hidden: true, main: ds1077l.MainBus})
	register(applet{name: "ds1077l-div", hidden: true, main: ds1077l.MainDiv})
	register(applet{name: "ds1077l-mux", hidden: true, main: ds1077l.MainMux})
	register(applet{name: "ds1077l-writee2", hidden: true, main: ds1077l.MainWriteE2})
}
